package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import vit22b.tensor.Tensor;

/**
 * Softmax attention without mask, one (batch, head) pair per work item, parallel over the
 * pairs. Each pair's q, k, v are copied into per-chunk arrays (a few KB), worked on there.
 * The backward recomputes the probabilities from q, k and the saved log-sum-exp.
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

    static void forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
        Dims s = Dims.of(out, lse, q, k, v, "attention");
        MemorySegment o = seg(out), l = seg(lse), qs = seg(q), ks = seg(k), vs = seg(v);
        float scale = (float) (1 / Math.sqrt(s.hd));
        Parallel.range(s.b * s.h, 4L * s.nq * s.nk * s.hd, (ch, from, to) -> {
            float[] qa = new float[s.nq * s.hd], ka = new float[s.nk * s.hd], va = new float[s.nk * s.hd];
            float[] p = new float[s.nk], acc = new float[s.hd];
            for (int bh = from; bh < to; bh++) {
                MemorySegment.copy(qs, F32, (long) bh * qa.length * Float.BYTES, qa, 0, qa.length);
                MemorySegment.copy(ks, F32, (long) bh * ka.length * Float.BYTES, ka, 0, ka.length);
                MemorySegment.copy(vs, F32, (long) bh * va.length * Float.BYTES, va, 0, va.length);
                for (int i = 0; i < s.nq; i++) {
                    float max = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < s.nk; j++) {
                        p[j] = scale * dot(qa, i * s.hd, ka, j * s.hd, s.hd);
                        max = Math.max(max, p[j]);
                    }
                    float sum = 0;
                    for (int j = 0; j < s.nk; j++) {
                        p[j] = (float) Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    float inv = 1 / sum;
                    java.util.Arrays.fill(acc, 0f);
                    for (int j = 0; j < s.nk; j++) axpy(p[j] * inv, va, j * s.hd, acc, 0, s.hd);
                    MemorySegment.copy(acc, 0, o, F32, s.outRow(bh / s.h, i, bh % s.h) * Float.BYTES, s.hd);
                    l.setAtIndex(F32, (long) bh * s.nq + i, max + (float) Math.log(sum));
                }
            }
        });
    }

    /**
     * dv += P^T dO; dP = dO V^T; dS = P (dP - rowsum(dO * O)); dq += scale dS K; dk += scale dS^T Q.
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
        Parallel.range(s.b * s.h, 10L * s.nq * s.nk * s.hd, (ch, from, to) -> {
            int nqd = s.nq * s.hd, nkd = s.nk * s.hd;
            float[] qa = new float[nqd], ka = new float[nkd], va = new float[nkd];
            float[] dqa = new float[nqd], dka = new float[nkd], dva = new float[nkd];
            float[] go = new float[s.hd], oo = new float[s.hd], p = new float[s.nk];
            for (int bh = from; bh < to; bh++) {
                int bb = bh / s.h, hh = bh % s.h;
                MemorySegment.copy(qs, F32, (long) bh * nqd * Float.BYTES, qa, 0, nqd);
                MemorySegment.copy(ks, F32, (long) bh * nkd * Float.BYTES, ka, 0, nkd);
                MemorySegment.copy(vs, F32, (long) bh * nkd * Float.BYTES, va, 0, nkd);
                java.util.Arrays.fill(dqa, 0f);
                java.util.Arrays.fill(dka, 0f);
                java.util.Arrays.fill(dva, 0f);
                for (int i = 0; i < s.nq; i++) {
                    MemorySegment.copy(g, F32, s.outRow(bb, i, hh) * Float.BYTES, go, 0, s.hd);
                    MemorySegment.copy(o, F32, s.outRow(bb, i, hh) * Float.BYTES, oo, 0, s.hd);
                    float li = l.getAtIndex(F32, (long) bh * s.nq + i);
                    float di = dot(go, 0, oo, 0, s.hd);
                    for (int j = 0; j < s.nk; j++) {
                        p[j] = (float) Math.exp(scale * dot(qa, i * s.hd, ka, j * s.hd, s.hd) - li);
                        axpy(p[j], go, 0, dva, j * s.hd, s.hd);
                        float ds = p[j] * (dot(go, 0, va, j * s.hd, s.hd) - di) * scale;
                        axpy(ds, ka, j * s.hd, dqa, i * s.hd, s.hd);
                        axpy(ds, qa, i * s.hd, dka, j * s.hd, s.hd);
                    }
                }
                addInto(gq, (long) bh * nqd, dqa);
                addInto(gk, (long) bh * nkd, dka);
                addInto(gv, (long) bh * nkd, dva);
            }
        });
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0;
        for (int e = 0; e < n; e++) s += a[ao + e] * b[bo + e];
        return s;
    }

    /** y[yo..] += alpha x[xo..]. */
    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        for (int e = 0; e < n; e++) y[yo + e] += alpha * x[xo + e];
    }

    private static void addInto(MemorySegment dst, long off, float[] src) {
        for (int e = 0; e < src.length; e++) dst.setAtIndex(F32, off + e, dst.getAtIndex(F32, off + e) + src[e]);
    }
}
