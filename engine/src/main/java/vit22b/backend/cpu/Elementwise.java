package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import vit22b.tensor.Tensor;

/** Element-wise and layout ops: add, scale, sum of squares, row broadcast and sum, head reshuffles. */
final class Elementwise {
    private Elementwise() {}

    /** dst += src. */
    static void add(Tensor dst, Tensor src) {
        Args.size(src, dst.size(), "add: src");
        MemorySegment d = seg(dst), s = seg(src);
        Parallel.range(Math.toIntExact(dst.size()), 1, (c, from, to) -> {
            for (int i = from; i < to; i++) d.setAtIndex(F32, i, d.getAtIndex(F32, i) + s.getAtIndex(F32, i));
        });
    }

    /** t *= s. */
    static void scale(Tensor t, float s) {
        MemorySegment d = seg(t);
        Parallel.range(Math.toIntExact(t.size()), 1, (c, from, to) -> {
            for (int i = from; i < to; i++) d.setAtIndex(F32, i, d.getAtIndex(F32, i) * s);
        });
    }

    /** Sum of squares, accumulated in double (per chunk, then summed in chunk order). */
    static double sumSquares(Tensor t) {
        MemorySegment d = seg(t);
        int n = Math.toIntExact(t.size());
        int chunks = Parallel.chunks(n, 2);
        double[] part = new double[chunks];
        Parallel.run(n, chunks, (c, from, to) -> {
            double acc = 0;
            for (int i = from; i < to; i++) {
                double x = d.getAtIndex(F32, i);
                acc += x * x;
            }
            part[c] = acc;
        });
        double sum = 0;
        for (double p : part) sum += p;
        return sum;
    }

    /** dst (R, W) = src (W) in every row. */
    static void broadcastRows(Tensor dst, Tensor src) {
        int w = Math.toIntExact(src.size());
        int rows = Args.div(dst.size(), w, "broadcastRows: dst size vs row width");
        MemorySegment d = seg(dst), s = seg(src);
        for (int r = 0; r < rows; r++) MemorySegment.copy(s, 0, d, (long) r * w * Float.BYTES, (long) w * Float.BYTES);
    }

    /** dst (W) += sum over rows of src (R, W). */
    static void sumRows(Tensor dst, Tensor src) {
        int w = Math.toIntExact(dst.size());
        int rows = Args.div(src.size(), w, "sumRows: src size vs row width");
        addColumnSums(seg(dst), seg(src), 0, rows, w, w);
    }

    /**
     * dst[j] += sum over rows r of src[off + r * stride + j], j < w. Parallel over column
     * blocks so that every sum keeps one summation order.
     */
    static void addColumnSums(MemorySegment dst, MemorySegment src, long off, int rows, int w, int stride) {
        final int block = 64;
        int blocks = (w + block - 1) / block;
        Parallel.range(blocks, (long) rows * block, (c, from, to) -> {
            float[] acc = new float[block];
            for (int bl = from; bl < to; bl++) {
                int j0 = bl * block, n = Math.min(block, w - j0);
                java.util.Arrays.fill(acc, 0f);
                for (int r = 0; r < rows; r++) {
                    long base = off + (long) r * stride + j0;
                    for (int j = 0; j < n; j++) acc[j] += src.getAtIndex(F32, base + j);
                }
                for (int j = 0; j < n; j++) dst.setAtIndex(F32, j0 + j, dst.getAtIndex(F32, j0 + j) + acc[j]);
            }
        });
    }

    /** dst (B, H, N, hd) = head-major copy of columns [col, col + H*hd) of src (B*N, W). */
    static void toHeads(Tensor dst, Tensor src, int col, int batch, int heads) {
        Layout l = Layout.of(src, dst, col, batch, heads, "toHeads");
        MemorySegment d = seg(dst), s = seg(src);
        long rowBytes = (long) l.hd * Float.BYTES;
        Parallel.range(batch * heads, (long) l.n * l.hd, (c, from, to) -> {
            for (int bh = from; bh < to; bh++) {
                int b = bh / heads, h = bh % heads;
                for (int i = 0; i < l.n; i++)
                    MemorySegment.copy(s, ((long) (b * l.n + i) * l.w + col + (long) h * l.hd) * Float.BYTES,
                            d, ((long) bh * l.n + i) * rowBytes, rowBytes);
            }
        });
    }

    /** dst columns [col, col + H*hd) of dst (B*N, W) += token-major copy of src (B, H, N, hd). */
    static void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads) {
        Layout l = Layout.of(dst, src, col, batch, heads, "fromHeads");
        MemorySegment d = seg(dst), s = seg(src);
        Parallel.range(batch * heads, (long) l.n * l.hd, (c, from, to) -> {
            for (int bh = from; bh < to; bh++) {
                int b = bh / heads, h = bh % heads;
                for (int i = 0; i < l.n; i++) {
                    long di = (long) (b * l.n + i) * l.w + col + (long) h * l.hd, si = ((long) bh * l.n + i) * l.hd;
                    for (int e = 0; e < l.hd; e++) d.setAtIndex(F32, di + e, d.getAtIndex(F32, di + e) + s.getAtIndex(F32, si + e));
                }
            }
        });
    }

    /** Sizes of a token-major (B*N, W) tensor and its head-major (B, H, N, hd) twin. */
    private record Layout(int n, int w, int hd) {
        static Layout of(Tensor tokens, Tensor headMajor, int col, int batch, int heads, String op) {
            Args.require(tokens.rank() == 2, op + ": token-major tensor must be (B*N, W), got " + tokens);
            int rows = tokens.dim(0), w = tokens.dim(1);
            int n = Args.div(rows, batch, op + ": token rows vs batch");
            int hd = Args.div(headMajor.size(), (long) rows * heads, op + ": head-major size vs B*N*H");
            Args.require(col >= 0 && col + (long) heads * hd <= w,
                    op + ": columns [" + col + ", " + (col + heads * hd) + ") exceed row width " + w);
            return new Layout(n, w, hd);
        }
    }
}
