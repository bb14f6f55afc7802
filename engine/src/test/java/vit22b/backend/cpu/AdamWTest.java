package vit22b.backend.cpu;

import org.junit.jupiter.api.Test;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class AdamWTest extends OpTest {

    @Test
    void threeStepsMatchTheFormulaInFloat64() {
        int n = 50_001;
        float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
        Tensor p = rand(1, n), m = be.allocate(n), v = be.allocate(n), g = rand(1, n);
        double[] pd = d(p), md = new double[n], vd = new double[n];
        for (int step = 1; step <= 3; step++) {
            if (step > 1) be.upload(g, randn(n, 1));
            double[] gd = d(g);
            be.adamw(p, g, m, v, null, lr, b1, b2, eps, wd, gs, step);
            for (int i = 0; i < n; i++) {
                double gi = gd[i] * gs;
                md[i] = b1 * md[i] + (1 - b1) * gi;
                vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
                double mh = md[i] / (1 - Math.pow(b1, step)), vh = vd[i] / (1 - Math.pow(b2, step));
                pd[i] -= lr * (mh / (Math.sqrt(vh) + eps) + wd * pd[i]);
            }
            Check.assertClose("m after step " + step, get(m), md, FWD_TOL);
            Check.assertClose("v after step " + step, get(v), vd, FWD_TOL);
            Check.assertClose("param after step " + step, get(p), pd, FWD_TOL);
        }
        be.free(m);
        be.free(v);
    }
}
