package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** AdamW against the textbook formula in float64, with decay groups and global-norm clipping. */
class AdamWTest {

    @Test void stepsMatchTheNaiveFormula() {
        ParamLayout layout = new ParamLayout(Presets.get("test-tiny"));
        int n = (int) layout.total();
        AdamW.Config cfg = new AdamW.Config(0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 1.0f);
        float[] p0 = Check.randn(1, n, 0.5);
        double[] p = Check.toDouble(p0), m = new double[n], v = new double[n];
        double[] wd = new double[n];
        for (ParamLayout.Entry e : layout.entries())
            for (long i = e.offset(); i < e.offset() + e.size(); i++)
                wd[(int) i] = switch (e.decay()) { case NONE -> 0; case BODY -> 0.1; case HEAD -> 0.5; };
        try (CpuBackend be = new CpuBackend()) {
            Tensor params = be.allocate(n), grads = be.allocate(n);
            be.upload(params, p0);
            try (AdamW opt = new AdamW(be, layout, params, grads, cfg)) {
                // gradient norms about 0.1 * sqrt(n) ~ 8 (clipped to 1) then 0.001 * sqrt(n) (not clipped)
                double[] stds = {0.1, 0.001, 0.1};
                float[] lrs = {1e-2f, 3e-3f, 1e-3f};
                for (int s = 0; s < 3; s++) {
                    float[] g = Check.randn(10 + s, n, stds[s]);
                    be.upload(grads, g);
                    double norm = opt.step(lrs[s]);
                    double sq = 0;
                    for (float x : g) sq += (double) x * x;
                    assertEquals(Math.sqrt(sq), norm, 1e-6 * norm, "global norm");
                    double scale = norm > 1 ? 1 / norm : 1;
                    int t = s + 1;
                    for (int i = 0; i < n; i++) {
                        double gi = g[i] * scale;
                        m[i] = 0.9 * m[i] + 0.1 * gi;
                        v[i] = 0.95 * v[i] + 0.05 * gi * gi;
                        double mh = m[i] / (1 - Math.pow(0.9, t)), vh = v[i] / (1 - Math.pow(0.95, t));
                        p[i] -= lrs[s] * (mh / (Math.sqrt(vh) + 1e-8) + wd[i] * p[i]);
                    }
                    assertEquals(t, opt.step());
                }
                Check.assertClose("params", be.download(params), p, 1e-6);
                Check.assertClose("m", be.download(opt.m()), m, 1e-5);
                Check.assertClose("v", be.download(opt.v()), v, 1e-5);
                // the update itself (p - p0), not only p, must match
                float[] got = be.download(params);
                float[] dGot = new float[n];
                double[] dRef = new double[n];
                for (int i = 0; i < n; i++) {
                    dGot[i] = got[i] - p0[i];
                    dRef[i] = p[i] - p0[i];
                }
                Check.assertClose("update", dGot, dRef, 1e-4);
            } finally {
                be.free(params);
                be.free(grads);
            }
        }
    }

    @Test void badHyperParametersAreRefused() {
        var ex = assertThrows(IllegalArgumentException.class, () -> new AdamW.Config(0.9f, 1.0f, 1e-8f, 0, 0, 1));
        assertEquals(true, ex.getMessage().contains("betas"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Config(0.9f, 0.99f, 0, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Config(0.9f, 0.99f, 1e-8f, -1, 0, 1));
    }
}
