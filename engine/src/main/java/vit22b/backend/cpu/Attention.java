package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import org.bytedeco.openblas.global.openblas;

import vit22b.tensor.Tensor;

/**
 * Softmax attention without mask, one (batch, head) pair at a time: its products are
 * sgemm calls straight on the tensors (QK^T, PV; in the backward dO V^T, P^T dO, dS K,
 * dS^T Q, accumulating with beta = 1), the softmax in Vector API lanes on a per-chunk
 * scratch of Nq x Nk scores. For N = 49, hd = 64 this ran about 1.5-2x faster than
 * vectorised Java loops over L1-resident copies. The backward recomputes the probabilities
 * from q, k and the saved log-sum-exp.
 *
 * <p>Pairs run in parallel on Java threads only while one pair's GEMMs (m n k = Nq Nk hd) stay
 * under 65536 x GEMM_MULTITHREAD_THRESHOLD, where OpenBLAS runs them on the calling thread
 * (checked with the bundled 0.3.31: 49 x 49 x 64 and 80 x 80 x 64 use no OpenBLAS worker,
 * 128 x 128 x 64 does); bigger pairs run one after another, each GEMM on all cores.
 */
final class Attention {
    private Attention() {}

    /** Sizes of one call: B, H, Nq, Nk, hd and the row stride of the token-major output. */
    private record Dims(int b, int h, int nq, int nk, int hd, int stride) {
        static Dims of(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, String op) {
            Args.require(q.rank() == 4 && k.rank() == 4 && v.rank() == 4,
                    op + ": q, k, v must be head-major (B, H, N, hd), got " + q + ", " + k + ", " + v);
            int b = q.dim(0), h = q.dim(1), nq = q.dim(2), hd = q.dim(3), nk = k.dim(2);
            Args.require(k.dim(0) == b && k.dim(1) == h && k.dim(3) == hd,
                    op + ": k " + k + " does not match q " + q);
            Args.require(java.util.Arrays.equals(k.shape(), v.shape()), op + ": v " + v + " does not match k " + k);
            Args.size(lse, (long) b * h * nq, op + ": lse");
            int stride = Args.div(out.size(), (long) b * nq, op + ": out size vs B*Nq rows");
            Args.require(stride >= h * hd, op + ": out row stride " + stride + " < H*hd = " + h * hd);
            return new Dims(b, h, nq, nk, hd, stride);
        }

        /** Float offset of row i, head hh of batch bb in the token-major output. */
        long outRow(int bb, int i, int hh) { return ((long) bb * nq + i) * stride + (long) hh * hd; }
    }

    /** An m n k below which OpenBLAS runs a GEMM on the calling thread (a conservative bound). */
    private static final double SINGLE_THREAD_MNK = 65536.0 * openblas.OPENBLAS_GEMM_MULTITHREAD_THRESHOLD;

    /** Chunks over the (batch, head) pairs: all cores if each pair's GEMMs stay single-threaded, else one. */
    private static int chunks(Dims s, long costPerPair) {
        double mnk = (double) s.nq * s.nk * s.hd;
        return mnk <= SINGLE_THREAD_MNK ? Parallel.chunks(s.b * s.h, costPerPair) : 1;
    }

    static void forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
        Dims s = Dims.of(out, lse, q, k, v, "attention");
        MemorySegment o = seg(out), l = seg(lse), qs = seg(q), ks = seg(k), vs = seg(v);
        float scale = (float) (1 / Math.sqrt(s.hd));
        int pairs = s.b * s.h;
        Parallel.run(pairs, chunks(s, 4L * s.nq * s.nk * s.hd), (ch, from, to) -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment p = arena.allocate((long) s.nq * s.nk * Float.BYTES, 64);
                for (int bh = from; bh < to; bh++) {
                    Blas.sgemm(false, true, s.nq, s.nk, s.hd, scale, qs, (long) bh * s.nq * s.hd, s.hd,
                            ks, (long) bh * s.nk * s.hd, s.hd, 0f, p, 0, s.nk);
                    for (int i = 0; i < s.nq; i++)
                        l.setAtIndex(F32, (long) bh * s.nq + i, softmaxRow(p, (long) i * s.nk, s.nk));
                    Blas.sgemm(false, false, s.nq, s.hd, s.nk, 1f, p, 0, s.nk, vs, (long) bh * s.nk * s.hd, s.hd,
                            0f, o, s.outRow(bh / s.h, 0, bh % s.h), s.stride);
                }
            }
        });
    }

    /**
     * dv += P^T dO; dP = dO V^T; dS = P (dP - rowsum(dO * O)) scale; dq += dS K; dk += dS^T Q.
     */
    static void backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                         Tensor q, Tensor k, Tensor v) {
        Dims s = Dims.of(out, lse, q, k, v, "attention backward");
        Args.size(dout, out.size(), "attention backward: dout");
        Args.size(dq, q.size(), "attention backward: dq");
        Args.size(dk, k.size(), "attention backward: dk");
        Args.size(dv, v.size(), "attention backward: dv");
        MemorySegment g = seg(dout), o = seg(out), l = seg(lse), qs = seg(q), ks = seg(k), vs = seg(v),
                gq = seg(dq), gk = seg(dk), gv = seg(dv);
        float scale = (float) (1 / Math.sqrt(s.hd));
        int pairs = s.b * s.h;
        Parallel.run(pairs, chunks(s, 10L * s.nq * s.nk * s.hd), (ch, from, to) -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment p = arena.allocate((long) s.nq * s.nk * Float.BYTES, 64);
                MemorySegment dp = arena.allocate((long) s.nq * s.nk * Float.BYTES, 64);
                for (int bh = from; bh < to; bh++) {
                    int bb = bh / s.h, hh = bh % s.h;
                    long qo = (long) bh * s.nq * s.hd, ko = (long) bh * s.nk * s.hd, go = s.outRow(bb, 0, hh);
                    Blas.sgemm(false, true, s.nq, s.nk, s.hd, scale, qs, qo, s.hd, ks, ko, s.hd, 0f, p, 0, s.nk);
                    Blas.sgemm(false, true, s.nq, s.nk, s.hd, 1f, g, go, s.stride, vs, ko, s.hd, 0f, dp, 0, s.nk);
                    for (int i = 0; i < s.nq; i++) {
                        long row = s.outRow(bb, i, hh);
                        float di = dot(g, row, o, row, s.hd);
                        probabilitiesAndScores(p, dp, (long) i * s.nk, s.nk, l.getAtIndex(F32, (long) bh * s.nq + i), di, scale);
                    }
                    Blas.sgemm(true, false, s.nk, s.hd, s.nq, 1f, p, 0, s.nk, g, go, s.stride, 1f, gv, ko, s.hd);
                    Blas.sgemm(false, false, s.nq, s.hd, s.nk, 1f, dp, 0, s.nk, ks, ko, s.hd, 1f, gq, qo, s.hd);
                    Blas.sgemm(true, false, s.nk, s.hd, s.nq, 1f, dp, 0, s.nk, qs, qo, s.hd, 1f, gk, ko, s.hd);
                }
            }
        });
    }

    /**
     * Softmax of the n scores at p[off] in place; returns their log-sum-exp. The last partial
     * vector runs through the same lane code, padded with -inf (exp gives 0 there: no effect on
     * max or sum), and exp is {@link LaneMath#exp}, so the bits do not depend on the JIT tier.
     */
    private static float softmaxRow(MemorySegment p, long off, int n) {
        int end = Vec.S.loopBound(n), left = n - end;
        FloatVector mv = FloatVector.broadcast(Vec.S, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < end; j += Vec.L) mv = mv.max(Vec.load(p, off + j));
        if (left > 0) mv = mv.max(Vec.loadTail(p, off + end, left, Float.NEGATIVE_INFINITY));
        float max = mv.reduceLanes(VectorOperators.MAX);
        FloatVector sv = FloatVector.zero(Vec.S);
        for (int j = 0; j < end; j += Vec.L) {
            FloatVector e = LaneMath.exp(Vec.load(p, off + j).sub(max));
            Vec.store(e, p, off + j);
            sv = sv.add(e);
        }
        if (left > 0) {
            FloatVector e = LaneMath.exp(Vec.loadTail(p, off + end, left, Float.NEGATIVE_INFINITY).sub(max));
            Vec.storeTail(e, p, off + end, left);
            sv = sv.add(e);
        }
        float sum = Vec.sum(sv);
        float inv = 1 / sum;
        int j = 0;
        for (; j < end; j += Vec.L) Vec.store(Vec.load(p, off + j).mul(inv), p, off + j);
        for (; j < n; j++) p.setAtIndex(F32, off + j, p.getAtIndex(F32, off + j) * inv);
        return max + (float) StrictMath.log(sum);   // StrictMath: the same bits in every JIT tier
    }

    /** In place on one row: p = exp(scaled score - lse); dp becomes dS = p (dp - di) scale; tail as in {@link #softmaxRow}. */
    private static void probabilitiesAndScores(MemorySegment p, MemorySegment dp, long off, int n, float lse,
                                               float di, float scale) {
        int end = Vec.S.loopBound(n), left = n - end;
        for (int j = 0; j < end; j += Vec.L) {
            FloatVector pv = LaneMath.exp(Vec.load(p, off + j).sub(lse));
            Vec.store(pv, p, off + j);
            Vec.store(pv.mul(Vec.load(dp, off + j).sub(di)).mul(scale), dp, off + j);
        }
        if (left > 0) {
            FloatVector pv = LaneMath.exp(Vec.loadTail(p, off + end, left, 0f).sub(lse));
            Vec.storeTail(pv, p, off + end, left);
            Vec.storeTail(pv.mul(Vec.loadTail(dp, off + end, left, 0f).sub(di)).mul(scale), dp, off + end, left);
        }
    }

    private static float dot(MemorySegment a, long ao, MemorySegment b, long bo, int n) {
        FloatVector acc = FloatVector.zero(Vec.S);
        int e = 0;
        for (int end = Vec.S.loopBound(n); e < end; e += Vec.L) acc = Vec.load(a, ao + e).fma(Vec.load(b, bo + e), acc);
        float sum = Vec.sum(acc);
        for (; e < n; e++) sum += a.getAtIndex(F32, ao + e) * b.getAtIndex(F32, bo + e);
        return sum;
    }
}
