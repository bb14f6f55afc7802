package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import vit22b.tensor.Tensor;

/** Element-wise and layout ops: add, scale, sum of squares, row broadcast and sum, head reshuffles. */
final class Elementwise {
    private Elementwise() {}

    /** Doubles in vectors as wide as {@link Vec#S}: half its lanes. */
    private static final VectorSpecies<Double> WIDE = VectorSpecies.of(double.class, Vec.S.vectorShape());

    /** dst += src. */
    static void add(Tensor dst, Tensor src) {
        Args.size(src, dst.size(), "add: src");
        MemorySegment d = seg(dst), s = seg(src);
        Parallel.range(Math.toIntExact(dst.size()), 1, (c, from, to) -> {
            int i = from;
            for (int end = from + Vec.S.loopBound(to - from); i < end; i += Vec.L)
                Vec.store(Vec.load(d, i).add(Vec.load(s, i)), d, i);
            for (; i < to; i++) d.setAtIndex(F32, i, d.getAtIndex(F32, i) + s.getAtIndex(F32, i));
        });
    }

    /** t *= s. */
    static void scale(Tensor t, float s) {
        MemorySegment d = seg(t);
        Parallel.range(Math.toIntExact(t.size()), 1, (c, from, to) -> {
            int i = from;
            for (int end = from + Vec.S.loopBound(to - from); i < end; i += Vec.L) Vec.store(Vec.load(d, i).mul(s), d, i);
            for (; i < to; i++) d.setAtIndex(F32, i, d.getAtIndex(F32, i) * s);
        });
    }

    /** Sum of squares in double lanes (floats widened before squaring); chunks summed in order. */
    static double sumSquares(Tensor t) {
        MemorySegment d = seg(t);
        int n = Math.toIntExact(t.size());
        int chunks = Parallel.chunks(n, 2);
        double[] part = new double[chunks];
        Parallel.run(n, chunks, (c, from, to) -> {
            DoubleVector lanes = DoubleVector.zero(WIDE);
            int i = from;
            for (int end = from + Vec.S.loopBound(to - from); i < end; i += Vec.L) {
                FloatVector x = Vec.load(d, i);
                DoubleVector lo = (DoubleVector) x.convertShape(VectorOperators.F2D, WIDE, 0);
                DoubleVector hi = (DoubleVector) x.convertShape(VectorOperators.F2D, WIDE, 1);
                lanes = lo.fma(lo, hi.fma(hi, lanes));
            }
            double acc = Vec.sum(lanes);
            for (; i < to; i++) {
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
     * blocks so that every sum keeps one summation order; float lanes flushed to double
     * every {@link Norms#FLUSH} rows.
     */
    static void addColumnSums(MemorySegment dst, MemorySegment src, long off, int rows, int w, int stride) {
        final int block = 4 * Vec.L;
        int blocks = (w + block - 1) / block;
        Parallel.range(blocks, (long) rows * block, (c, from, to) -> {
            float[] part = new float[block];
            double[] acc = new double[block];
            for (int bl = from; bl < to; bl++) {
                int j0 = bl * block, n = Math.min(block, w - j0), vn = Vec.S.loopBound(n);
                java.util.Arrays.fill(acc, 0);
                for (int r = 0; r < rows; r++) {
                    long base = off + (long) r * stride + j0;
                    for (int j = 0; j < vn; j += Vec.L)
                        Vec.load(src, base + j).add(FloatVector.fromArray(Vec.S, part, j)).intoArray(part, j);
                    for (int j = vn; j < n; j++) part[j] += src.getAtIndex(F32, base + j);
                    if ((r + 1) % Norms.FLUSH == 0 || r == rows - 1) Norms.flush(part, acc);
                }
                for (int j = 0; j < n; j++) dst.setAtIndex(F32, j0 + j, (float) (dst.getAtIndex(F32, j0 + j) + acc[j]));
            }
        });
    }

    /** out[oo..oo+n) = a[ao..ao+n) + b[0..n). */
    static void addRow(MemorySegment out, long oo, MemorySegment a, long ao, MemorySegment b, int n) {
        int j = 0;
        for (int end = Vec.S.loopBound(n); j < end; j += Vec.L) Vec.store(Vec.load(a, ao + j).add(Vec.load(b, j)), out, oo + j);
        for (; j < n; j++) out.setAtIndex(F32, oo + j, a.getAtIndex(F32, ao + j) + b.getAtIndex(F32, j));
    }

    /** acc[0..n) += src[so..so+n). */
    static void addRowInto(float[] acc, MemorySegment src, long so, int n) {
        int j = 0;
        for (int end = Vec.S.loopBound(n); j < end; j += Vec.L)
            FloatVector.fromArray(Vec.S, acc, j).add(Vec.load(src, so + j)).intoArray(acc, j);
        for (; j < n; j++) acc[j] += src.getAtIndex(F32, so + j);
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
                    int e = 0;
                    for (int end = Vec.S.loopBound(l.hd); e < end; e += Vec.L)
                        Vec.store(Vec.load(d, di + e).add(Vec.load(s, si + e)), d, di + e);
                    for (; e < l.hd; e++) d.setAtIndex(F32, di + e, d.getAtIndex(F32, di + e) + s.getAtIndex(F32, si + e));
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
