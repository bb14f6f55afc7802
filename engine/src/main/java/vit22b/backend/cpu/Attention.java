package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import vit22b.tensor.Tensor;

/**
 * Softmax attention without mask, one (batch, head) pair per work item, parallel over the
 * pairs. Each pair's q, k, v are copied into per-chunk arrays (a few KB, L1-resident) and
 * multiplied there with Vector API broadcast-FMA loops (no horizontal sums in the inner
 * loops). For N = 49, hd = 64 this beat one sgemm call per pair (see the report of the
 * cpu-ops branch). The backward recomputes the probabilities from q, k and the saved
 * log-sum-exp.
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
            Scratch w = new Scratch(s);
            for (int bh = from; bh < to; bh++) {
                w.load(qs, ks, vs, bh, false);
                for (int i = 0; i < s.nq; i++) {
                    scores(w.qa, i * s.hd, w.kt, s.hd, w.np, scale, w.sc);
                    java.util.Arrays.fill(w.sc, s.nk, w.np, Float.NEGATIVE_INFINITY);
                    FloatVector max = FloatVector.broadcast(Vec.S, Float.NEGATIVE_INFINITY);
                    for (int j = 0; j < w.np; j += Vec.L) max = max.max(FloatVector.fromArray(Vec.S, w.sc, j));
                    float m = max.reduceLanes(VectorOperators.MAX);
                    FloatVector sum = FloatVector.zero(Vec.S);
                    for (int j = 0; j < w.np; j += Vec.L) {
                        FloatVector e = FloatVector.fromArray(Vec.S, w.sc, j).sub(m).lanewise(VectorOperators.EXP);
                        e.intoArray(w.p, j);
                        sum = sum.add(e);
                    }
                    float total = sum.reduceLanes(VectorOperators.ADD), inv = 1 / total;
                    mix(w.p, w.va, s.nk, s.hd, inv, w.row, 0);
                    MemorySegment.copy(w.row, 0, o, F32, s.outRow(bh / s.h, i, bh % s.h) * Float.BYTES, s.hd);
                    l.setAtIndex(F32, (long) bh * s.nq + i, m + (float) Math.log(total));
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
            Scratch w = new Scratch(s);
            float[] dqa = new float[s.nq * s.hd], dka = new float[s.nk * s.hd], dva = new float[s.nk * s.hd];
            float[] go = new float[s.hd], dp = new float[w.np];
            for (int bh = from; bh < to; bh++) {
                int bb = bh / s.h, hh = bh % s.h;
                w.load(qs, ks, vs, bh, true);
                java.util.Arrays.fill(dka, 0f);
                java.util.Arrays.fill(dva, 0f);
                for (int i = 0; i < s.nq; i++) {
                    long row = s.outRow(bb, i, hh);
                    MemorySegment.copy(g, F32, row * Float.BYTES, go, 0, s.hd);
                    MemorySegment.copy(o, F32, row * Float.BYTES, w.row, 0, s.hd);
                    float di = Vec.dot(go, 0, w.row, 0, s.hd);
                    float li = l.getAtIndex(F32, (long) bh * s.nq + i);
                    scores(w.qa, i * s.hd, w.kt, s.hd, w.np, scale, w.sc);
                    scores(go, 0, w.vt, s.hd, w.np, 1f, dp);
                    // padding columns have k = v = 0 but must get P = 0: masked below
                    for (int j = 0; j < w.np; j += Vec.L) {
                        var valid = Vec.S.indexInRange(j, s.nk);
                        FloatVector p = FloatVector.fromArray(Vec.S, w.sc, j).sub(li).lanewise(VectorOperators.EXP)
                                .blend(0f, valid.not());
                        p.intoArray(w.p, j);
                        p.mul(FloatVector.fromArray(Vec.S, dp, j).sub(di)).mul(scale).intoArray(w.sc, j);
                    }
                    mix(w.sc, w.ka, s.nk, s.hd, 1f, dqa, i * s.hd);
                    for (int j = 0; j < s.nk; j++) {
                        Vec.axpy(w.sc[j], w.qa, i * s.hd, dka, j * s.hd, s.hd);
                        Vec.axpy(w.p[j], go, 0, dva, j * s.hd, s.hd);
                    }
                }
                Vec.addInto(gq, (long) bh * dqa.length, dqa, 0, dqa.length);
                Vec.addInto(gk, (long) bh * dka.length, dka, 0, dka.length);
                Vec.addInto(gv, (long) bh * dva.length, dva, 0, dva.length);
            }
        });
    }

    /** One chunk's copies of a (batch, head) pair: q, k, v rows, and k (and v) transposed, padded to whole vectors. */
    private static final class Scratch {
        final Dims s;
        final int np;
        final float[] qa, ka, va, kt, vt, sc, p, row;

        Scratch(Dims s) {
            this.s = s;
            np = Vec.padded(s.nk);
            qa = new float[s.nq * s.hd];
            ka = new float[s.nk * s.hd];
            va = new float[s.nk * s.hd];
            kt = new float[s.hd * np]; // columns [nk, np) stay 0
            vt = new float[s.hd * np];
            sc = new float[np];
            p = new float[np];
            row = new float[s.hd];
        }

        void load(MemorySegment q, MemorySegment k, MemorySegment v, int bh, boolean transposeV) {
            MemorySegment.copy(q, F32, (long) bh * qa.length * Float.BYTES, qa, 0, qa.length);
            MemorySegment.copy(k, F32, (long) bh * ka.length * Float.BYTES, ka, 0, ka.length);
            MemorySegment.copy(v, F32, (long) bh * va.length * Float.BYTES, va, 0, va.length);
            transpose(ka, kt);
            if (transposeV) transpose(va, vt);
        }

        private void transpose(float[] a, float[] t) {
            for (int j = 0; j < s.nk; j++)
                for (int e = 0; e < s.hd; e++) t[e * np + j] = a[j * s.hd + e];
        }
    }

    /** out[j] = alpha * sum_e x[xo + e] * t[e * np + j] for j < np: a row times a transposed matrix. */
    private static void scores(float[] x, int xo, float[] t, int hd, int np, float alpha, float[] out) {
        for (int j = 0; j < np; j += Vec.L) {
            FloatVector acc = FloatVector.zero(Vec.S);
            for (int e = 0; e < hd; e++)
                acc = FloatVector.fromArray(Vec.S, t, e * np + j).fma(FloatVector.broadcast(Vec.S, x[xo + e]), acc);
            acc.mul(alpha).intoArray(out, j);
        }
    }

    /** out[oo + e] = alpha * sum_{j < n} w[j] * m[j * hd + e]: weights times rows. */
    private static void mix(float[] w, float[] m, int n, int hd, float alpha, float[] out, int oo) {
        int e = 0;
        for (int end = Vec.S.loopBound(hd); e < end; e += Vec.L) {
            FloatVector acc = FloatVector.zero(Vec.S);
            for (int j = 0; j < n; j++)
                acc = FloatVector.fromArray(Vec.S, m, j * hd + e).fma(FloatVector.broadcast(Vec.S, w[j]), acc);
            acc.mul(alpha).intoArray(out, oo + e);
        }
        for (; e < hd; e++) {
            float acc = 0;
            for (int j = 0; j < n; j++) acc += w[j] * m[j * hd + e];
            out[oo + e] = alpha * acc;
        }
    }
}
