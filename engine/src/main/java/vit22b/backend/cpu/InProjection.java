package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;

import java.lang.foreign.MemorySegment;

import vit22b.backend.Backend;
import vit22b.model.GeluKind;
import vit22b.model.ModelConfig;
import vit22b.tensor.Tensor;

/**
 * The in-projection's epilogue of the parallel block (the GEMM pre = y @ wIn^T is {@link Linear}'s):
 * per token, GELU(h + bMlp) into ag[:, W:W+M], QK-norm of q and k per head into head-major q
 * and k, and v copied head-major; backward the reverse into dpre.
 */
final class InProjection {
    private InProjection() {}

    /** Sizes of one call: T tokens of N per image, widths W (q's), M, R = M + 3W, H heads of hd. */
    private record Dims(int t, int n, int d, int m, int r, int h, int hd, int batch) {
        static Dims of(Backend.InProj s, Tensor pre, Tensor q, Tensor k, Tensor v, Tensor qkStats, Tensor ag,
                       Tensor bMlp, Tensor qScale, Tensor kScale, String op) {
            int t = s.rows();
            Args.size(pre, (long) t * s.preCols(), op + ": pre");
            Args.size(ag, (long) t * s.agCols(), op + ": ag");
            Args.size(q, (long) t * s.width(), op + ": q");
            Args.size(k, (long) t * s.width(), op + ": k");
            Args.size(v, (long) t * s.width(), op + ": v");
            Args.size(qkStats, 4L * t * s.heads(), op + ": qkStats");
            Args.size(bMlp, s.mlp(), op + ": bMlp");
            Args.size(qScale, s.headDim(), op + ": qScale");
            Args.size(kScale, s.headDim(), op + ": kScale");
            return new Dims(t, s.tokens(), s.width(), s.mlp(), s.preCols(), s.heads(), s.headDim(), s.batch());
        }

        /** Float offset of token (b, i), head hh in a head-major (B, H, N, hd) tensor. */
        long head(int b, int i, int hh) { return ((long) (b * h + hh) * n + i) * hd; }

        /** Float offset of [mean, rstd] for that (b, h, i); plane 0 is q, plane 1 is k. */
        long stat(int plane, int b, int i, int hh) { return 2 * (((long) plane * batch * h + b * h + hh) * n + i); }
    }

    static void forward(Backend.InProj shape, Tensor pre, Tensor bMlp, Tensor qScale, Tensor kScale,
                        Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats, GeluKind gelu, boolean centered) {
        Dims s = Dims.of(shape, pre, q, k, v, qkStats, ag, bMlp, qScale, kScale, "in-projection epilogue");
        MemorySegment p = seg(pre);
        MemorySegment a = seg(ag), bm = seg(bMlp), qs = seg(qScale), ks = seg(kScale), st = seg(qkStats),
                qo = seg(q), ko = seg(k), vo = seg(v);
        Parallel.range(s.t, 30L * s.r, (ch, from, to) -> {
            for (int tok = from; tok < to; tok++) {
                int b = tok / s.n, i = tok % s.n;
                long row = (long) tok * s.r;
                Gelu.rowForward(p, row, bm, s.m, gelu, a, (long) tok * (s.d + s.m) + s.d);
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

    static void backward(Backend.InProj shape, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor pre, Tensor bMlp,
                         Tensor qScale, Tensor kScale, Tensor qkStats, Tensor dpre,
                         Tensor dbMlp, Tensor dqScale, Tensor dkScale, GeluKind gelu, boolean centered) {
        Dims s = Dims.of(shape, pre, dq, dk, dv, qkStats, dag, bMlp, qScale, kScale, "in-projection epilogue backward");
        Args.size(dpre, pre.size(), "in-projection epilogue backward: dpre");
        Args.size(dbMlp, s.m, "in-projection epilogue backward: dbMlp");
        Args.size(dqScale, s.hd, "in-projection epilogue backward: dqScale");
        Args.size(dkScale, s.hd, "in-projection epilogue backward: dkScale");

        MemorySegment p = seg(pre), dp = seg(dpre), a = seg(dag), bm = seg(bMlp), qs = seg(qScale), ks = seg(kScale),
                st = seg(qkStats), gq = seg(dq), gk = seg(dk), gv = seg(dv);
        int chunks = Parallel.chunks(s.t, 40L * s.r);
        double[][] dqs = new double[chunks][s.hd], dks = new double[chunks][s.hd], dbs = new double[chunks][s.m];
        int perFlush = Math.max(1, Norms.FLUSH / s.h);
        // dpre is scratch: every element is written (not accumulated) here.
        Parallel.run(s.t, chunks, (ch, from, to) -> {
            float[] fq = new float[s.hd], fk = new float[s.hd], fb = new float[s.m];
            for (int tok = from; tok < to; tok++) {
                int b = tok / s.n, i = tok % s.n;
                long row = (long) tok * s.r;
                Gelu.rowBackward(a, (long) tok * (s.d + s.m) + s.d, p, row, bm, s.m, gelu, dp, row, false);
                Elementwise.addRowInto(fb, dp, row, s.m); // dbMlp, from the row while it is in cache
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
                    Norms.flush(fb, dbs[ch]);
                }
            }
        });
        Norms.addPartials(seg(dqScale), dqs);
        Norms.addPartials(seg(dkScale), dks);
        Norms.addPartials(seg(dbMlp), dbs);
    }
}
