package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.InProjections;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class InProjectionTest extends OpTest {

    /** D 8, 2 heads of 4, MLP 12; 2x2 patches of 1 pixel: N = 4 tokens per image. */
    static ModelConfig config(NormKind norm, GeluKind gelu) {
        return new ModelConfig("in-proj-test", 8, 1, 12, 2, 1, 2, 1, 0, norm, gelu, LossKind.SIGMOID, 0f);
    }

    /** Naive float64 results: pre (T, R), g (T, M), q, k, v head-major, stats (2, B, H, N, 2). */
    record Ref(double[] pre, double[] g, double[] q, double[] k, double[] v, double[] stats) {
        /** The scalar the backward test differentiates: weights dot every output. */
        double objective(double[] wg, double[] wq, double[] wk, double[] wv) {
            return dot(wg, g) + dot(wq, q) + dot(wk, k) + dot(wv, v);
        }
    }

    static Ref ref(ModelConfig c, int b, double[] y, double[] wIn, double[] bMlp, double[] qs, double[] ks) {
        int d = c.width(), m = c.mlp(), r = c.inProjRows(), h = c.heads(), hd = c.headDim();
        int t = y.length / d, n = t / b;
        boolean centered = c.norm() == NormKind.LAYER;
        double[] pre = new double[t * r], g = new double[t * m], q = new double[t * d], k = new double[t * d],
                v = new double[t * d], stats = new double[4 * t * h];
        for (int tok = 0; tok < t; tok++)
            for (int o = 0; o < r; o++)
                for (int j = 0; j < d; j++) pre[tok * r + o] += y[tok * d + j] * wIn[o * d + j];
        for (int tok = 0; tok < t; tok++) {
            for (int j = 0; j < m; j++) g[tok * m + j] = GeluTest.gelu(pre[tok * r + j] + bMlp[j], c.gelu());
            int bb = tok / n, i = tok % n;
            for (int hh = 0; hh < h; hh++) {
                int head = ((bb * h + hh) * n + i) * hd;
                double[] qRow = new double[hd], kRow = new double[hd], st = new double[2];
                System.arraycopy(pre, tok * r + m + hh * hd, qRow, 0, hd);
                System.arraycopy(pre, tok * r + m + d + hh * hd, kRow, 0, hd);
                System.arraycopy(NormsTest.ref(qRow, qs, null, hd, centered, ModelConfig.EPS, st), 0, q, head, hd);
                System.arraycopy(st, 0, stats, 2 * ((bb * h + hh) * n + i), 2);
                System.arraycopy(NormsTest.ref(kRow, ks, null, hd, centered, ModelConfig.EPS, st), 0, k, head, hd);
                System.arraycopy(st, 0, stats, 2 * (((b + bb) * h + hh) * n + i), 2);
                System.arraycopy(pre, tok * r + m + 2 * d + hh * hd, v, head, hd);
            }
        }
        return new Ref(pre, g, q, k, v, stats);
    }

    @ParameterizedTest
    @CsvSource({"RMS, TANH", "LAYER, EXACT"})
    void forwardMatchesFloat64(NormKind norm, GeluKind gelu) {
        ModelConfig c = config(norm, gelu);
        int b = 2, n = 4, t = b * n, d = c.width(), m = c.mlp(), r = c.inProjRows(), hd = c.headDim();
        Tensor y = rand(1, t, d), wIn = rand(0.4, r, d), bMlp = rand(0.5, m), qs = rand(1, hd), ks = rand(1, hd);
        Tensor pre = rand(1, t, r), ag = rand(1, t, d + m), q = rand(1, b, c.heads(), n, hd), k = rand(1, b, c.heads(), n, hd),
                v = rand(1, b, c.heads(), n, hd), stats = rand(1, 2, b, c.heads(), n, 2);
        float[] ag0 = get(ag);
        InProjections.forward(be, c, b, y, wIn, bMlp, qs, ks, pre, ag, q, k, v, stats);
        Ref want = ref(c, b, d(y), d(wIn), d(bMlp), d(qs), d(ks));

        Check.assertClose("pre", get(pre), want.pre, FWD_TOL);
        float[] agNow = get(ag), g = new float[t * m];
        for (int tok = 0; tok < t; tok++) {
            for (int j = 0; j < d; j++) assertEquals(ag0[tok * (d + m) + j], agNow[tok * (d + m) + j], "ag[:, :D] touched");
            System.arraycopy(agNow, tok * (d + m) + d, g, tok * m, m);
        }
        Check.assertClose("g in ag[:, D:]", g, want.g, FWD_TOL);
        Check.assertClose("q", get(q), want.q, FWD_TOL);
        Check.assertClose("k", get(k), want.k, FWD_TOL);
        Check.assertClose("v", get(v), want.v, FWD_TOL);
        Check.assertClose("qkStats", get(stats), want.stats, FWD_TOL);
    }

    @ParameterizedTest
    @CsvSource({"RMS, TANH, 4", "LAYER, EXACT, 4", "LAYER, TANH, 4",
            "RMS, EXACT, 40"}) // 80 tokens: two threads, float-to-double flushes of the partial sums within each
    void backwardMatchesFiniteDifferences(NormKind norm, GeluKind gelu, int n) {
        ModelConfig c = config(norm, gelu);
        int b = 2, t = b * n, d = c.width(), m = c.mlp(), r = c.inProjRows(), h = c.heads(), hd = c.headDim();
        Tensor y = rand(1, t, d), wIn = rand(0.4, r, d), bMlp = rand(0.5, m), qs = rand(1, hd), ks = rand(1, hd);
        Tensor pre = be.allocate(t, r), ag = rand(1, t, d + m), q = rand(1, b, h, n, hd), k = rand(1, b, h, n, hd),
                v = rand(1, b, h, n, hd), stats = rand(1, 2, b, h, n, 2);
        InProjections.forward(be, c, b, y, wIn, bMlp, qs, ks, pre, ag, q, k, v, stats);

        // upstream gradients; dag[:, :D] is garbage the op must ignore
        Tensor dag = rand(1, t, d + m), dq = rand(1, b, h, n, hd), dk = rand(1, b, h, n, hd), dv = rand(1, b, h, n, hd);
        Tensor dpre = rand(1, t, r), dy = grad(t, d), dwIn = grad(r, d), dbMlp = grad(m), dqs = grad(hd), dks = grad(hd);
        double[] dy0 = d(dy), dwIn0 = d(dwIn), dbMlp0 = d(dbMlp), dqs0 = d(dqs), dks0 = d(dks);
        InProjections.backward(be, c, b, dag, dq, dk, dv, y, wIn, bMlp, qs, ks, pre, stats, dpre, dy, dwIn, dbMlp, dqs, dks);
        be.free(pre);

        double[] dagD = d(dag), wg = new double[t * m];
        for (int tok = 0; tok < t; tok++) System.arraycopy(dagD, tok * (d + m) + d, wg, tok * m, m);
        double[] wq = d(dq), wk = d(dk), wv = d(dv);
        double[] yd = d(y), wd = d(wIn), bd = d(bMlp), qd = d(qs), kd = d(ks);
        assertGrad("dy", dy, dy0, Check.fdGrad(yd, x -> ref(c, b, x, wd, bd, qd, kd).objective(wg, wq, wk, wv), FD_H));
        assertGrad("dwIn", dwIn, dwIn0, Check.fdGrad(wd, x -> ref(c, b, yd, x, bd, qd, kd).objective(wg, wq, wk, wv), FD_H));
        assertGrad("dbMlp", dbMlp, dbMlp0, Check.fdGrad(bd, x -> ref(c, b, yd, wd, x, qd, kd).objective(wg, wq, wk, wv), FD_H));
        assertGrad("dqScale", dqs, dqs0, Check.fdGrad(qd, x -> ref(c, b, yd, wd, bd, x, kd).objective(wg, wq, wk, wv), FD_H));
        assertGrad("dkScale", dks, dks0, Check.fdGrad(kd, x -> ref(c, b, yd, wd, bd, qd, x).objective(wg, wq, wk, wv), FD_H));
    }
}
