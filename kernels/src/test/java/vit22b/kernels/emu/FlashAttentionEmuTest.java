package vit22b.kernels.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import vit22b.kernels.FlashAttention;

/**
 * The tensor-core flash attention through its Java wrappers on the emulated device, one test per
 * direction, against float64 of the same bf16 inputs (B*H > 1, lengths across the tiles). The
 * element-wise bounds are the C++ suite's (test_attention_bf16.cpp, docs/DESIGN.md); the backward
 * here consumes the forward's own out and lse, so their bounds enter its own: lse's as a relative
 * error of P, out's through delta. dq, dk, dv are bf16 and accumulated: they start as random
 * values, and each bound grows by the sum's own rounding (2^-8 |want|).
 */
class FlashAttentionEmuTest {
    static final double U = 0x1p-8, F = 0x1p-23;
    EmuSession e;

    @BeforeEach void open() {
        Assumptions.assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        e = new EmuSession("FlashAttentionEmuTest");
    }

    @AfterEach void close() {
        if (e != null) e.close();
    }

    /** One problem: bf16 inputs, the float64 reference and the forward's bounds. */
    final class Problem {
        final int B, H, Nq, Nk, hd, BH, ldo;
        final double scale;
        final short[] q, k, v, dout;
        final double[] P, eRel, lse, lseTol, out, outTol;
        final FlashAttention.Shape shape;
        final FlashAttention.Forward dev;

        Problem(int B, int H, int Nq, int Nk, int hd) {
            this.B = B; this.H = H; this.Nq = Nq; this.Nk = Nk; this.hd = hd;
            BH = B * H;
            ldo = H * hd + 8;
            scale = 1 / Math.sqrt(hd);
            q = e.randomBf16(BH * Nq * hd, -2, 2);
            k = e.randomBf16(BH * Nk * hd, -2, 2);
            v = e.randomBf16(BH * Nk * hd, -1, 1);
            dout = e.randomBf16(B * Nq * ldo, -1, 1);
            P = new double[BH * Nq * Nk];
            eRel = new double[BH * Nq * Nk];
            lse = new double[BH * Nq];
            lseTol = new double[BH * Nq];
            out = new double[B * Nq * ldo];
            outTol = new double[B * Nq * ldo];
            for (int bh = 0; bh < BH; bh++)
                for (int i = 0; i < Nq; i++) {
                    int r = bh * Nq + i;
                    double[] s = new double[Nk], sa = new double[Nk];
                    double mx = Double.NEGATIVE_INFINITY, z = 0, em = 0;
                    for (int j = 0; j < Nk; j++) {
                        for (int c = 0; c < hd; c++) {
                            double x = q(bh, i, c) * kv(k, bh, j, c);
                            s[j] += x;
                            sa[j] += Math.abs(x);
                        }
                        s[j] *= scale;
                        mx = Math.max(mx, s[j]);
                    }
                    for (int j = 0; j < Nk; j++) z += Math.exp(s[j] - mx);
                    lse[r] = mx + Math.log(z);
                    for (int j = 0; j < Nk; j++) {
                        P[r * Nk + j] = Math.exp(s[j] - mx) / z;
                        eRel[r * Nk + j] = (hd + 8) * F * scale * sa[j] + 0x1p-21 * (Math.abs(s[j]) + Math.abs(lse[r]) + 1);
                        em = Math.max(em, eRel[r * Nk + j]);
                    }
                    lseTol[r] = 2 * em + (Nk + 8) * F + 0x1p-20 * (Math.abs(lse[r]) + 1);
                    for (int c = 0; c < hd; c++) {
                        double o = 0, a = 0;
                        for (int j = 0; j < Nk; j++) {
                            o += P[r * Nk + j] * kv(v, bh, j, c);
                            a += P[r * Nk + j] * Math.abs(kv(v, bh, j, c));
                        }
                        out[oi(bh, i, c)] = o;
                        outTol[oi(bh, i, c)] = (2 * U + 4 * em + (Nk + 8) * F) * a + U * Math.abs(o);
                    }
                }
            shape = new FlashAttention.Shape(B, H, Nq, Nk, hd);
            dev = new FlashAttention.Forward(e.upload(MemorySegment.ofArray(q)), e.upload(MemorySegment.ofArray(k)),
                    e.upload(MemorySegment.ofArray(v)), e.fresh(2L * B * Nq * ldo), ldo, e.fresh(4L * BH * Nq));
        }

        double q(int bh, int i, int c) { return EmuSession.widen(q[(bh * Nq + i) * hd + c]); }
        double kv(short[] x, int bh, int j, int c) { return EmuSession.widen(x[(bh * Nk + j) * hd + c]); }
        int oi(int bh, int i, int c) { return ((bh / H) * Nq + i) * ldo + (bh % H) * hd + c; }
        double dout(int bh, int i, int c) { return EmuSession.widen(dout[oi(bh, i, c)]); }
    }

    /** Counts elements outside their bound, printing the first few. */
    static final class Bad {
        int n;
        void check(String what, double got, double want, double tol) {
            if (!(Math.abs(got - want) <= tol) && n++ < 3) System.out.printf("%s: got %.9g want %.9g (bound %.3g)%n", what, got, want, tol);
        }
        /** Element x of bf16 gradient got = start + sum rounded once: sum's bound plus the rounding's. */
        void grad(String what, MemorySegment got, int x, short[] start, double sum, double tol) {
            double want = EmuSession.widen(start[x]) + sum;
            check(what, EmuSession.widen(got.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, x)), want, tol + U * Math.abs(want));
        }
    }

    @Test void forwardMatchesFloat64() {
        Problem p = new Problem(1, 2, 70, 33, 64);
        e.k.flashAttnFwd(p.shape, p.dev);
        MemorySegment out = e.download(p.dev.out(), 2L * p.B * p.Nq * p.ldo), lse = e.download(p.dev.lse(), 4L * p.BH * p.Nq);
        Bad bad = new Bad();
        for (int bh = 0; bh < p.BH; bh++)
            for (int i = 0; i < p.Nq; i++) {
                for (int c = 0; c < p.hd; c++) {
                    int x = p.oi(bh, i, c);
                    bad.check("out", EmuSession.widen(out.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, x)), p.out[x], p.outTol[x]);
                }
                int r = bh * p.Nq + i;
                bad.check("lse", lse.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, r), p.lse[r], p.lseTol[r]);
            }
        assertEquals(0, bad.n, "elements outside the bound (first ones printed above)");
    }

    @Test void backwardMatchesFloat64() {
        Problem p = new Problem(2, 1, 17, 40, 128);
        short[] dq0 = e.randomBf16(p.q.length, -1, 1), dk0 = e.randomBf16(p.k.length, -1, 1), dv0 = e.randomBf16(p.v.length, -1, 1);
        long dq = e.upload(MemorySegment.ofArray(dq0)), dk = e.upload(MemorySegment.ofArray(dk0)),
                dv = e.upload(MemorySegment.ofArray(dv0));
        e.k.flashAttnFwd(p.shape, p.dev);
        e.k.flashAttnBwd(p.shape, new FlashAttention.Backward(p.dev, e.upload(MemorySegment.ofArray(p.dout)),
                e.fresh(4L * p.BH * p.Nq), dq, dk, dv));
        MemorySegment Q = e.download(dq, 2L * p.q.length), K = e.download(dk, 2L * p.k.length), V = e.download(dv, 2L * p.v.length);
        int Nq = p.Nq, Nk = p.Nk, hd = p.hd;
        // dS and its error bound E (test_attention_bf16.cpp), with delta from the kernel's out and P from its lse
        double[] dS = new double[p.P.length], E = new double[p.P.length], eP = new double[p.P.length];
        for (int bh = 0; bh < p.BH; bh++)
            for (int i = 0; i < Nq; i++) {
                int r = bh * Nq + i;
                double dl = 0, dlTol = 0;
                for (int c = 0; c < hd; c++) {
                    dl += p.out[p.oi(bh, i, c)] * p.dout(bh, i, c);
                    dlTol += Math.abs(p.dout(bh, i, c)) * p.outTol[p.oi(bh, i, c)]
                            + (hd + 8) * F * Math.abs(p.out[p.oi(bh, i, c)] * p.dout(bh, i, c)) * 1.01;
                }
                for (int j = 0; j < Nk; j++) {
                    int n = r * Nk + j;
                    double dp = 0, dpa = 0;
                    for (int c = 0; c < hd; c++) {
                        double x = p.dout(bh, i, c) * p.kv(p.v, bh, j, c);
                        dp += x;
                        dpa += Math.abs(x);
                    }
                    eP[n] = p.eRel[n] + 1.01 * p.lseTol[r];
                    dS[n] = p.P[n] * (dp - dl);
                    E[n] = U * Math.abs(dS[n]) + p.P[n] * (eP[n] * (Math.abs(dp - dl) + dlTol) + (hd + 8) * F * dpa + dlTol + F * Math.abs(dl));
                }
            }
        Bad bad = new Bad();
        for (int bh = 0; bh < p.BH; bh++) {
            for (int i = 0; i < Nq; i++)
                for (int c = 0; c < hd; c++) {
                    double g = 0, tol = 0;
                    for (int j = 0; j < Nk; j++) {
                        int n = (bh * Nq + i) * Nk + j;
                        double kk = p.kv(p.k, bh, j, c);
                        g += dS[n] * kk;
                        tol += (2 * E[n] + (Nk + 8) * F * Math.abs(dS[n])) * Math.abs(kk);
                    }
                    int x = (bh * Nq + i) * hd + c;
                    bad.grad("dq", Q, x, dq0, p.scale * g, p.scale * tol);
                }
            for (int j = 0; j < Nk; j++)
                for (int c = 0; c < hd; c++) {
                    double gk = 0, tk = 0, gv = 0, tv = 0;
                    for (int i = 0; i < Nq; i++) {
                        int n = (bh * Nq + i) * Nk + j;
                        double qq = p.q(bh, i, c), o = p.dout(bh, i, c);
                        gk += dS[n] * qq;
                        tk += (2 * E[n] + (Nq + 8) * F * Math.abs(dS[n])) * Math.abs(qq);
                        gv += p.P[n] * o;
                        tv += (2 * (U + eP[n]) + (Nq + 8) * F) * p.P[n] * Math.abs(o);
                    }
                    int x = (bh * Nk + j) * hd + c;
                    bad.grad("dk", K, x, dk0, p.scale * gk, p.scale * tk);
                    bad.grad("dv", V, x, dv0, gv, tv);
                }
        }
        assertEquals(0, bad.n, "elements outside the bound (first ones printed above)");
    }
}
