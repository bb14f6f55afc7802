package vit22b.graph;

import vit22b.backend.Backend;
import vit22b.graph.TaskGraph.Task;
import vit22b.tensor.Tensor;

/**
 * The collective matmul of section 3 (after Wang et al., ASPLOS 2023): a matmul whose operand
 * is spread over an axis of p devices, split into p chunks so that the chunk being multiplied
 * and the chunk travelling to the ring neighbour overlap. Chunks travel both ways round the
 * ring (half of each chunk's rows each way) when they split evenly. Two forms:
 * <ul>
 * <li>all-gather matmul: y (p*r, n) = gather(x) (p*r, K) @ w^T, x (r, K) local, w (n, K) local
 *     (the in-projection: tokens sharded, weights sharded over heads/MLP units);</li>
 * <li>matmul reduce-scatter: y (r, N) = rows chunk (own position) of sum over the group of
 *     a (p*r, Kloc) @ w^T, w (N, Kloc) local (the out-projection: partial sums over heads/units).</li>
 * </ul>
 * With overlap off the graph is the plain collective followed (or preceded) by one matmul; on a
 * group of one (p = 1) it is the matmul alone, on the operand in place (no copy, no collective).
 * The builders add tasks to a graph; bodies are attached when tensors are bound ({@code b}
 * non-null), so the simulator and the executors run the same graph.
 */
public final class CollectiveMatmul {
    private CollectiveMatmul() {}

    /** Shapes: r rows per device chunk, contraction K, n output columns; operand element size. */
    public record Shape(int rows, int inner, int cols, int bytesPer) {}

    /** The compute applied to a block of rows: {@code firstRow} is its first row in the gathered (p*r) order. */
    @FunctionalInterface
    public interface ChunkOp { void apply(int firstRow, Tensor rows); }

    /**
     * One device's side of {@link #allGatherMatmul}: its rows x (r, K); gathered (p*r, K) receives
     * every device's rows (and is kept: backward needs them); op consumes each block of rows.
     */
    public record AgBind(Backend be, Communicator comm, Tensor x, Tensor gathered, ChunkOp op) {}

    /**
     * One device's side of {@link #matmulReduceScatter}: op writes the partial result for a
     * block of rows into the tensor it is given; y (r, N) receives the reduced own chunk;
     * part0, part1, recv (r, N) are scratch with overlap; full (p*r, N) without.
     */
    public record RsBind(Backend be, Communicator comm, ChunkOp op, Tensor y, Tensor part0, Tensor part1, Tensor recv,
                         Tensor full) {}

    /** The all-gather matmul's bind for y = gather(x) @ w^T (y: (p*r, n)). */
    public static AgBind matmul(Backend be, Communicator comm, Tensor x, Tensor gathered, Tensor w, Tensor y) {
        int n = y.dim(1);
        return new AgBind(be, comm, x, gathered, (row, rows) ->
                be.linearForward(y.view((long) row * n, rows.dim(0), n), rows, w, null));
    }

    /** The matmul reduce-scatter's bind for y = own chunk of sum(a @ w^T) (a: (p*r, K)). */
    public static RsBind matmul(Backend be, Communicator comm, Tensor a, Tensor w, Tensor y, Tensor part0, Tensor part1,
                                Tensor recv, Tensor full) {
        int k = a.dim(1);
        return new RsBind(be, comm, (row, out) -> be.linearForward(out, a.view((long) row * k, out.dim(0), k), w, null),
                y, part0, part1, recv, full);
    }

    /**
     * Rings used with overlap: two (each chunk's first half of rows travels to the next device,
     * the second half to the previous one, over separate links) when the rows split evenly and
     * the two neighbours differ; else one.
     */
    static int rings(int p, int rows) { return p > 2 && rows % 2 == 0 ? 2 : 1; }

    /**
     * Adds the all-gather matmul along {@code axis} to {@code g}: step s multiplies the chunks
     * that arrived in step s - 1 while the next ones travel. {@code extra} (nullable) is the
     * cost of a second matmul the op does on the same rows (a weight gradient). Returns the task
     * after which the op has seen every chunk.
     */
    public static Task allGatherMatmul(TaskGraph g, String name, int p, Axis axis, Shape s, Cost extra,
                                       AgBind b, Task... deps) {
        int r = s.rows();
        long chunkFloats = (long) r * s.inner();
        double chunkBytes = (double) chunkFloats * s.bytesPer();
        if (p == 1)
            return g.compute(name + ".matmul", plus(Cost.matmul(r, s.inner(), s.cols(), s.bytesPer()), extra, 1),
                    b == null ? null : () -> b.op().apply(0, b.x()), deps);
        if (!g.overlap()) {
            Task ag = g.comm(name + ".all-gather", Cost.collective(Cost.Kind.ALL_GATHER, axis, chunkBytes * p),
                    b == null ? null : () -> b.comm().allGather(axis, b.gathered(), b.x()).await(), deps);
            Cost all = plus(Cost.matmul((double) p * r, s.inner(), s.cols(), s.bytesPer()), extra, p);
            return g.compute(name + ".matmul", all, b == null ? null : () -> {
                for (int c = 0; c < p; c++) b.op().apply(c * r, b.gathered().view(c * chunkFloats, r, s.inner()));
            }, ag);
        }
        int me = b == null ? 0 : b.comm().index(axis);
        int rings = rings(p, r), h = r / rings;
        Cost mm = plus(Cost.matmul(r, s.inner(), s.cols(), s.bytesPer()), extra, 1);
        Cost hop = rings == 1 ? Cost.collective(Cost.Kind.SHIFT, axis, chunkBytes)
                : Cost.collective(Cost.Kind.EXCHANGE, axis, chunkBytes / 2);
        // Each chunk has its own slot in gathered, so a receive never waits for a multiply.
        Task own = g.compute(name + ".keep-own", Cost.elementwise(chunkFloats, 1, 1, s.bytesPer(), 0),
                b == null ? null : () -> b.be().copy(b.gathered().view(me * chunkFloats, r, s.inner()), b.x()), deps);
        Task prevComm = own, last = own;
        for (int step = 0; step < p; step++) {
            final int st = step;
            Task comm = null;
            if (st < p - 1)
                comm = g.comm(name + ".shift" + st, hop, b == null ? null : () -> {
                    for (int q = 0; q < rings; q++) b.comm().send(axis, dir(q), half(b, at(me, q, st, p), q, h, s));
                    Completion got = null;
                    for (int q = 0; q < rings; q++) got = b.comm().recv(axis, -dir(q), half(b, at(me, q, st + 1, p), q, h, s));
                    got.await();
                }, prevComm);
            last = g.compute(name + ".chunk" + st, mm, b == null ? null : () -> {
                for (int q = 0; q < rings; q++) {
                    int chunk = at(me, q, st, p);
                    b.op().apply(chunk * r + q * h, half(b, chunk, q, h, s));
                }
            }, prevComm, last);
            prevComm = comm;
        }
        return last;
    }

    /** Ring q sends to the next device (q = 0) or the previous one (q = 1). */
    private static int dir(int q) { return q == 0 ? 1 : -1; }

    /** The chunk ring q holds at a step: it came {@code step} hops against the ring's direction. */
    private static int at(int me, int q, int step, int p) { return Math.floorMod(me - dir(q) * step, p); }

    /** Ring q's rows of chunk c in the gathered buffer. */
    private static Tensor half(AgBind b, int c, int q, int h, Shape s) {
        return b.gathered().view(((long) c * s.rows() + (long) q * h) * s.inner(), h, s.inner());
    }

    /**
     * Adds the matmul reduce-scatter along {@code axis}; {@code extra} (nullable) is the cost of a
     * second matmul the op does on each chunk's rows (a weight gradient). Returns the task after
     * which y is complete.
     */
    public static Task matmulReduceScatter(TaskGraph g, String name, int p, Axis axis, Shape s, Cost extra, RsBind b,
                                           Task... deps) {
        int r = s.rows();
        double partBytes = (double) r * s.cols() * s.bytesPer();
        if (p == 1)
            return g.compute(name + ".matmul", plus(Cost.matmul(r, s.inner(), s.cols(), s.bytesPer()), extra, 1),
                    b == null ? null : () -> b.op().apply(0, b.y()), deps);
        if (!g.overlap()) {
            Task mm = g.compute(name + ".matmul", plus(Cost.matmul((double) p * r, s.inner(), s.cols(), s.bytesPer()), extra, p),
                    b == null ? null : () -> {
                        long n = (long) r * s.cols();
                        for (int c = 0; c < p; c++) b.op().apply(c * r, b.full().view(c * n, r, s.cols()));
                    }, deps);
            return g.comm(name + ".reduce-scatter", Cost.collective(Cost.Kind.REDUCE_SCATTER, axis, partBytes * p),
                    b == null ? null : () -> b.comm().reduceScatter(axis, b.y(), b.full()).await(), mm);
        }
        int me = b == null ? 0 : b.comm().index(axis);
        int rings = rings(p, r), h = r / rings;
        Cost mm = plus(Cost.matmul(r, s.inner(), s.cols(), s.bytesPer()), extra, 1);
        Cost add = Cost.elementwise((double) r * s.cols(), 2, 1, s.bytesPer(), 1);
        Cost hop = rings == 1 ? Cost.collective(Cost.Kind.SHIFT, axis, partBytes)
                : Cost.collective(Cost.Kind.EXCHANGE, axis, partBytes / 2);
        Task[] comm = new Task[p];
        Task last = null;
        for (int step = 0; step < p; step++) {
            final int st = step;
            // Ring q works on chunk me - dir(q) (st + 1): after p steps it holds its own chunk, reduced.
            Tensor part = b == null ? null : st == p - 1 ? b.y() : (st % 2 == 0 ? b.part0() : b.part1());
            Task c = g.compute(name + ".chunk" + st, mm, b == null ? null : () -> {
                for (int q = 0; q < rings; q++)
                    b.op().apply(at(me, q, st + 1, p) * r + q * h, rows(part, q, h));
            }, concat(deps, st >= 2 ? comm[st - 2] : null));
            if (st > 0)
                c = g.compute(name + ".add" + st, add,
                        b == null ? null : () -> b.be().add(part, b.recv()),
                        c, comm[st - 1]);
            if (st < p - 1)
                comm[st] = g.comm(name + ".shift" + st, hop, b == null ? null : () -> {
                    for (int q = 0; q < rings; q++) b.comm().send(axis, dir(q), rows(part, q, h));
                    Completion got = null;
                    for (int q = 0; q < rings; q++) got = b.comm().recv(axis, -dir(q), rows(b.recv(), q, h));
                    got.await();
                }, c);
            last = c;
        }
        return last;
    }

    /** Rows [q h, (q + 1) h) of t. */
    private static Tensor rows(Tensor t, int q, int h) {
        int w = t.dim(1);
        return t.view((long) q * h * w, h, w);
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
