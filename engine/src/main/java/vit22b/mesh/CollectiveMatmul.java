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

    /** The compute applied to one chunk of rows: {@code chunk} is its position on the axis. */
    @FunctionalInterface
    public interface ChunkOp { void apply(int chunk, Tensor rows); }

    /**
     * One device's side of {@link #allGatherMatmul}: its rows x (r, K); gathered (p*r, K) receives
     * every device's rows (and is kept: backward needs them); op consumes each chunk.
     */
    public record AgBind(CpuDevice dev, Tensor x, Tensor gathered, ChunkOp op) {}

    /**
     * One device's side of {@link #matmulReduceScatter}: op writes the partial result for a
     * chunk of rows into the (r, N) tensor it is given; y (r, N) receives the reduced own chunk;
     * part0, part1, recv (r, N) are scratch with overlap; full (p*r, N) without.
     */
    public record RsBind(CpuDevice dev, ChunkOp op, Tensor y, Tensor part0, Tensor part1, Tensor recv, Tensor full) {}

    /** The all-gather matmul's bind for y = gather(x) @ w^T (y: (p*r, n)). */
    public static AgBind matmul(CpuDevice dev, Tensor x, Tensor gathered, Tensor w, Tensor y) {
        int r = x.dim(0), n = y.dim(1);
        return new AgBind(dev, x, gathered, (c, rows) ->
                dev.backend().linearForward(y.view((long) c * r * n, r, n), rows, w, null));
    }

    /** The matmul reduce-scatter's bind for y = own chunk of sum(a @ w^T) (a: (p*r, K)). */
    public static RsBind matmul(CpuDevice dev, Tensor a, Tensor w, Tensor y, Tensor part0, Tensor part1, Tensor recv,
                                Tensor full) {
        int r = y.dim(0), k = a.dim(1);
        return new RsBind(dev, (c, out) -> dev.backend().linearForward(out, a.view((long) c * r * k, r, k), w, null),
                y, part0, part1, recv, full);
    }

    /**
     * Adds the all-gather matmul along {@code axis} to {@code g}: chunk s of the ring is
     * multiplied while chunk s + 1 travels. {@code extra} (nullable) is the cost of a second
     * matmul the op does per chunk on the same rows (a weight gradient). Returns the task after which the
     * op has seen every chunk.
     */
    public static Task allGatherMatmul(TaskGraph g, String name, Mesh mesh, Axis axis, Shape s, Cost extra,
                                       AgBind b, Task... deps) {
        int p = mesh.size(axis);
        long chunkFloats = (long) s.rows() * s.inner();
        double chunkBytes = (double) chunkFloats * s.bytesPer();
        Cost mm = plus(Cost.matmul(s.rows(), s.inner(), s.cols(), s.bytesPer()), extra, 1);
        if (!g.overlap()) {
            Task ag = g.comm(name + ".all-gather", Cost.collective(Cost.Kind.ALL_GATHER, axis, chunkBytes * p),
                    b == null ? null : () -> Collectives.allGather(b.dev(), axis, b.gathered(), b.x()), deps);
            Cost all = plus(Cost.matmul((double) p * s.rows(), s.inner(), s.cols(), s.bytesPer()), extra, p);
            return g.compute(name + ".matmul", all, b == null ? null : () -> {
                for (int c = 0; c < p; c++) b.op().apply(c, b.gathered().view(c * chunkFloats, s.rows(), s.inner()));
            }, ag);
        }
        int me = b == null ? 0 : b.dev().index(axis);
        // Each chunk has its own slot in gathered, so a receive never waits for a multiply.
        Task own = g.compute(name + ".keep-own", Cost.elementwise(chunkFloats, 1, 1, s.bytesPer(), 0),
                b == null ? null : () -> b.dev().backend().copy(slot(b, me, chunkFloats, s), b.x()), deps);
        Task prevComm = null, last = own;
        for (int step = 0; step < p; step++) {
            int chunk = Math.floorMod(me - step, p);
            Tensor cur = b == null ? null : step == 0 ? b.x() : slot(b, chunk, chunkFloats, s);
            Tensor next = b == null ? null : slot(b, Math.floorMod(chunk - 1, p), chunkFloats, s);
            Task comm = null;
            if (step < p - 1)
                comm = g.comm(name + ".shift" + step, Cost.collective(Cost.Kind.SHIFT, axis, chunkBytes),
                        b == null ? null : () -> Collectives.shift(b.dev(), axis, cur, next), concat(deps, prevComm));
            last = g.compute(name + ".chunk" + step, mm, b == null ? null : () -> b.op().apply(chunk, cur),
                    concat(deps, prevComm, last));
            prevComm = comm;
        }
        return last;
    }

    private static Tensor slot(AgBind b, int chunk, long chunkFloats, Shape s) {
        return b.gathered().view(chunk * chunkFloats, s.rows(), s.inner());
    }

    /** Adds the matmul reduce-scatter along {@code axis}; returns the task after which y is complete. */
    public static Task matmulReduceScatter(TaskGraph g, String name, Mesh mesh, Axis axis, Shape s, RsBind b,
                                           Task... deps) {
        int p = mesh.size(axis);
        double partBytes = (double) s.rows() * s.cols() * s.bytesPer();
        if (!g.overlap()) {
            Task mm = g.compute(name + ".matmul", Cost.matmul((double) p * s.rows(), s.inner(), s.cols(), s.bytesPer()),
                    b == null ? null : () -> {
                        long n = (long) s.rows() * s.cols();
                        for (int c = 0; c < p; c++) b.op().apply(c, b.full().view(c * n, s.rows(), s.cols()));
                    }, deps);
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
            Task c = g.compute(name + ".chunk" + st, mm, b == null ? null : () -> b.op().apply(chunk, part),
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

    /** a + times * b (b nullable). */
    private static Cost plus(Cost a, Cost b, int times) {
        if (b == null) return a;
        Cost.Compute x = (Cost.Compute) a, y = (Cost.Compute) b;
        return Cost.compute(x.flops() + times * y.flops(), x.bytes() + times * y.bytes());
    }

    private static Task[] concat(Task[] deps, Task... more) {
        Task[] all = java.util.Arrays.copyOf(deps, deps.length + more.length);
        System.arraycopy(more, 0, all, deps.length, more.length);
        return all;
    }
}
