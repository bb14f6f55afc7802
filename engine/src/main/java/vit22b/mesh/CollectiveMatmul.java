package vit22b.mesh;

import vit22b.mesh.TaskGraph.Task;
import vit22b.tensor.Tensor;

/**
 * The collective matmul of section 3 (after Wang et al., ASPLOS 2023): a matmul whose operand
 * is spread over an axis of p devices, split into p chunks so that the chunk being multiplied
 * and the chunk travelling to the ring neighbour overlap. Two forms:
 * <ul>
 * <li>all-gather matmul: y (p*r, n) = gather(x) (p*r, K) @ w^T, x (r, K) local, w (n, K) local
 *     (the in-projection: tokens sharded, weights sharded over heads/MLP units);</li>
 * <li>matmul reduce-scatter: y (r, N) = rows chunk (own position) of sum over the group of
 *     a (p*r, Kloc) @ w^T, w (N, Kloc) local (the out-projection: partial sums over heads/units).</li>
 * </ul>
 * With overlap off the graph is the plain collective followed (or preceded) by one matmul.
 * The builders add tasks to a graph; bodies are attached when tensors are bound ({@code b}
 * non-null), so the simulator and the CPU executor run the same graph.
 */
public final class CollectiveMatmul {
    private CollectiveMatmul() {}

    /** Shapes: r rows per device chunk, contraction K, n output columns; operand element size. */
    public record Shape(int rows, int inner, int cols, int bytesPer) {}

    /** One device's tensors for {@link #allGatherMatmul}: chunk buffers (r, K) x 2 with overlap, else gathered (p*r, K). */
    public record AgBind(CpuDevice dev, Tensor x, Tensor w, Tensor y, Tensor buf0, Tensor buf1, Tensor gathered) {}

    /** One device's tensors for {@link #matmulReduceScatter}: partial (r, N) x 2 and recv (r, N) with overlap, else full (p*r, N). */
    public record RsBind(CpuDevice dev, Tensor a, Tensor w, Tensor y, Tensor part0, Tensor part1, Tensor recv, Tensor full) {}

    /**
     * Adds the all-gather matmul along {@code axis} to {@code g}; {@code extra} (nullable, cost
     * only) is a second matmul per chunk using the same gathered rows (a weight gradient).
     * Returns the task after which y is complete.
     */
    public static Task allGatherMatmul(TaskGraph g, String name, Mesh mesh, Axis axis, Shape s, Cost extra,
                                       AgBind b, Task... deps) {
        int p = mesh.size(axis);
        double chunkBytes = (double) s.rows() * s.inner() * s.bytesPer();
        Cost mm = Cost.matmul(s.rows(), s.inner(), s.cols(), s.bytesPer());
        if (!g.overlap()) {
            Task ag = g.comm(name + ".all-gather", Cost.collective(Cost.Kind.ALL_GATHER, axis, chunkBytes * p),
                    b == null ? null : () -> Collectives.allGather(b.dev(), axis, b.gathered(), b.x()), deps);
            Task last = g.compute(name + ".matmul", Cost.matmul((double) p * s.rows(), s.inner(), s.cols(), s.bytesPer()),
                    b == null ? null : () -> b.dev().backend().linearForward(b.y(), b.gathered(), b.w(), null), ag);
            if (extra != null) last = g.compute(name + ".matmul2", scaled(extra, p), null, ag);
            return last;
        }
        int me = b == null ? 0 : b.dev().index(axis);
        Task[] comm = new Task[p], comp = new Task[p];
        Task last = null;
        for (int step = 0; step < p; step++) {
            final int st = step;
            Tensor cur = b == null ? null : st == 0 ? b.x() : (st % 2 == 0 ? b.buf0() : b.buf1());
            Tensor next = b == null ? null : (st % 2 == 0 ? b.buf1() : b.buf0());
            Task ready = st == 0 ? null : comm[st - 1];
            if (st < p - 1)
                comm[st] = g.comm(name + ".shift" + st, Cost.collective(Cost.Kind.SHIFT, axis, chunkBytes),
                        b == null ? null : () -> Collectives.shift(b.dev(), axis, cur, next),
                        concat(deps, ready, st == 0 ? null : comp[st - 1]));
            int chunk = Math.floorMod(me - st, p);
            comp[st] = g.compute(name + ".chunk" + st, mm,
                    b == null ? null : () -> b.dev().backend().linearForward(
                            b.y().view((long) chunk * s.rows() * s.cols(), s.rows(), s.cols()), cur, b.w(), null),
                    concat(deps, ready));
            last = comp[st];
            if (extra != null) last = g.compute(name + ".chunk" + st + "b", extra, null, comp[st]);
        }
        return last;
    }

    /** Adds the matmul reduce-scatter along {@code axis}; returns the task after which y is complete. */
    public static Task matmulReduceScatter(TaskGraph g, String name, Mesh mesh, Axis axis, Shape s, RsBind b,
                                           Task... deps) {
        int p = mesh.size(axis);
        double partBytes = (double) s.rows() * s.cols() * s.bytesPer();
        if (!g.overlap()) {
            Task mm = g.compute(name + ".matmul", Cost.matmul((double) p * s.rows(), s.inner(), s.cols(), s.bytesPer()),
                    b == null ? null : () -> b.dev().backend().linearForward(b.full(), b.a(), b.w(), null), deps);
            return g.comm(name + ".reduce-scatter", Cost.collective(Cost.Kind.REDUCE_SCATTER, axis, partBytes * p),
                    b == null ? null : () -> Collectives.reduceScatter(b.dev(), axis, b.y(), b.full()), mm);
        }
        int me = b == null ? 0 : b.dev().index(axis);
        Cost mm = Cost.matmul(s.rows(), s.inner(), s.cols(), s.bytesPer());
        Cost add = Cost.elementwise((double) s.rows() * s.cols(), 2, 1, s.bytesPer(), 1);
        Task[] comm = new Task[p];
        Task last = null;
        for (int step = 0; step < p; step++) {
            final int st = step;
            // Chunk (me - st - 1): after p steps this device holds its own chunk, fully reduced.
            int chunk = Math.floorMod(me - st - 1, p);
            Tensor part = b == null ? null : st == p - 1 ? b.y() : (st % 2 == 0 ? b.part0() : b.part1());
            Task c = g.compute(name + ".chunk" + st, mm,
                    b == null ? null : () -> b.dev().backend().linearForward(part,
                            b.a().view((long) chunk * s.rows() * s.inner(), s.rows(), s.inner()), b.w(), null),
                    concat(deps, st >= 2 ? comm[st - 2] : null));
            if (st > 0)
                c = g.compute(name + ".add" + st, add,
                        b == null ? null : () -> Collectives.addInto(CpuDevice.seg(part), CpuDevice.seg(b.recv())),
                        c, comm[st - 1]);
            if (st < p - 1)
                comm[st] = g.comm(name + ".shift" + st, Cost.collective(Cost.Kind.SHIFT, axis, partBytes),
                        b == null ? null : () -> Collectives.shift(b.dev(), axis, part, b.recv()), c);
            last = c;
        }
        return last;
    }

    private static Cost scaled(Cost c, int times) {
        Cost.Compute x = (Cost.Compute) c;
        return Cost.compute(x.flops() * times, x.bytes() * times);
    }

    private static Task[] concat(Task[] deps, Task... more) {
        Task[] all = java.util.Arrays.copyOf(deps, deps.length + more.length);
        System.arraycopy(more, 0, all, deps.length, more.length);
        return all;
    }
}
