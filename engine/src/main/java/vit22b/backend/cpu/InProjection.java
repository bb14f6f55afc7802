package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;

import java.lang.foreign.MemorySegment;

import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;

/**
 * Fused in-projection of the parallel block: one sgemm gives pre = y @ wIn^T with columns
 * [MLP | q | k | v]; then per token, GELU(h + bMlp) into ag[:, D:D+M], QK-norm of q and k per
 * head into head-major q and k, and v copied head-major.
 */
final class InProjection {
    private InProjection() {}

    /** Sizes of one call: T tokens of N per image, widths D, M, R = M + 3D, H heads of hd. */
    private record Dims(int t, int n, int d, int m, int r, int h, int hd, int batch) {
        static Dims of(ModelConfig c, int batch, Tensor y, Tensor wIn, Tensor pre, Tensor q, Tensor k, Tensor v,
                       Tensor qkStats, Tensor ag, String op) {
            int d = c.width(), m = c.mlp(), r = c.inProjRows(), h = c.heads(), hd = c.headDim();
            int t = Args.div(y.size(), d, op + ": y size vs width D");
            int n = Args.div(t, batch, op + ": token rows vs batch");
            Args.size(wIn, (long) r * d, op + ": wIn");
            Args.size(pre, (long) t * r, op + ": pre");
            Args.size(ag, (long) t * (d + m), op + ": ag");
            Args.size(q, (long) t * d, op + ": q");
            Args.size(k, (long) t * d, op + ": k");
            Args.size(v, (long) t * d, op + ": v");
            Args.size(qkStats, 4L * t * h, op + ": qkStats");
            return new Dims(t, n, d, m, r, h, hd, batch);
        }

        /** Float offset of token (b, i), head hh in a head-major (B, H, N, hd) tensor. */
        long head(int b, int i, int hh) { return ((long) (b * h + hh) * n + i) * hd; }

        /** Float offset of [mean, rstd] for that (b, h, i); plane 0 is q, plane 1 is k. */
        long stat(int plane, int b, int i, int hh) { return 2 * (((long) plane * batch * h + b * h + hh) * n + i); }
    }

    static void forward(ModelConfig c, int batch, Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale,
                        Tensor pre, Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats) {
        Dims s = Dims.of(c, batch, y, wIn, pre, q, k, v, qkStats, ag, "in-projection");
        Args.size(bMlp, s.m, "in-projection: bMlp");
        Args.size(qScale, s.hd, "in-projection: qScale");
        Args.size(kScale, s.hd, "in-projection: kScale");
        MemorySegment p = seg(pre);
        Blas.sgemm(false, true, s.t, s.r, s.d, 1f, seg(y), 0, s.d, seg(wIn), 0, s.d, 0f, p, 0, s.r);

        boolean centered = c.norm() == NormKind.LAYER;
        MemorySegment a = seg(ag), bm = seg(bMlp), qs = seg(qScale), ks = seg(kScale), st = seg(qkStats),
                qo = seg(q), ko = seg(k), vo = seg(v);
        Parallel.range(s.t, 30L * s.r, (ch, from, to) -> {
            for (int tok = from; tok < to; tok++) {
                int b = tok / s.n, i = tok % s.n;
                long row = (long) tok * s.r;
                Gelu.rowForward(p, row, bm, s.m, c.gelu(), a, (long) tok * (s.d + s.m) + s.d);
                for (int hh = 0; hh < s.h; hh++) {
                    long col = (long) hh * s.hd;
                    Norms.rowForward(p, row + s.m + col, s.hd, qs, null, centered, ModelConfig.EPS,
                            qo, s.head(b, i, hh), st, s.stat(0, b, i, hh));
                    Norms.rowForward(p, row + s.m + s.d + col, s.hd, ks, null, centered, ModelConfig.EPS,
                            ko, s.head(b, i, hh), st, s.stat(1, b, i, hh));
                    MemorySegment.copy(p, (row + s.m + 2L * s.d + col) * Float.BYTES,
                            vo, s.head(b, i, hh) * Float.BYTES, (long) s.hd * Float.BYTES);
                }
            }
        });
    }

    static void backward(ModelConfig c, int batch, Tensor dag, Tensor dq, Tensor dk, Tensor dv,
                         Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale,
                         Tensor pre, Tensor qkStats, Tensor dpre,
                         Tensor dy, Tensor dwIn, Tensor dbMlp, Tensor dqScale, Tensor dkScale) {
        Dims s = Dims.of(c, batch, y, wIn, pre, dq, dk, dv, qkStats, dag, "in-projection backward");
        Args.size(dpre, pre.size(), "in-projection backward: dpre");
        Args.size(dy, y.size(), "in-projection backward: dy");
        Args.size(dwIn, wIn.size(), "in-projection backward: dwIn");
        Args.size(dbMlp, s.m, "in-projection backward: dbMlp");
        Args.size(dqScale, s.hd, "in-projection backward: dqScale");
        Args.size(dkScale, s.hd, "in-projection backward: dkScale");

        boolean centered = c.norm() == NormKind.LAYER;
        MemorySegment p = seg(pre), dp = seg(dpre), a = seg(dag), bm = seg(bMlp), qs = seg(qScale), ks = seg(kScale),
                st = seg(qkStats), gq = seg(dq), gk = seg(dk), gv = seg(dv);
        int chunks = Parallel.chunks(s.t, 40L * s.r);
        double[][] dqs = new double[chunks][s.hd], dks = new double[chunks][s.hd];
        int perFlush = Math.max(1, Norms.FLUSH / s.h);
        // dpre is scratch: every element is written (not accumulated) here.
        Parallel.run(s.t, chunks, (ch, from, to) -> {
            float[] fq = new float[s.hd], fk = new float[s.hd];
            for (int tok = from; tok < to; tok++) {
                int b = tok / s.n, i = tok % s.n;
                long row = (long) tok * s.r;
                Gelu.rowBackward(a, (long) tok * (s.d + s.m) + s.d, p, row, bm, s.m, c.gelu(), dp, row, false);
                for (int hh = 0; hh < s.h; hh++) {
                    long col = (long) hh * s.hd, hq = s.head(b, i, hh);
                    Norms.rowBackward(gq, hq, p, row + s.m + col, s.hd, qs, st, s.stat(0, b, i, hh), centered,
                            dp, row + s.m + col, false, fq, null);
                    Norms.rowBackward(gk, hq, p, row + s.m + s.d + col, s.hd, ks, st, s.stat(1, b, i, hh), centered,
                            dp, row + s.m + s.d + col, false, fk, null);
                    MemorySegment.copy(gv, hq * Float.BYTES, dp, (row + s.m + 2L * s.d + col) * Float.BYTES,
                            (long) s.hd * Float.BYTES);
                }
                if ((tok - from + 1) % perFlush == 0 || tok == to - 1) { // float partials into double
                    Norms.flush(fq, dqs[ch]);
                    Norms.flush(fk, dks[ch]);
                }
            }
        });
        Norms.addPartials(seg(dqScale), dqs);
        Norms.addPartials(seg(dkScale), dks);
        Elementwise.addColumnSums(seg(dbMlp), dp, 0, s.t, s.m, s.r);
        Blas.sgemm(false, false, s.t, s.d, s.r, 1f, dp, 0, s.r, seg(wIn), 0, s.d, 1f, seg(dy), 0, s.d);
        Blas.sgemm(true, false, s.r, s.d, s.t, 1f, dp, 0, s.r, seg(y), 0, s.d, 1f, seg(dwIn), 0, s.d);
    }
}
