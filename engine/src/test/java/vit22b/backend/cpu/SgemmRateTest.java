package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

import vit22b.testing.Check;

class SgemmRateTest {

    /** The timed call computes a @ b^T: checked against float64 loops on a small shape. */
    @Test void timedCallIsTheProductItClaims() {
        int m = 37, n = 29, k = 23;
        try (FloatPointer a = SgemmRate.random(5, (long) m * k); FloatPointer b = SgemmRate.random(6, (long) n * k);
             FloatPointer c = new FloatPointer((long) m * n)) {
            SgemmRate.multiply(a, b, c, m, n, k);
            float[] fa = new float[m * k], fb = new float[n * k], fc = new float[m * n];
            a.get(fa);
            b.get(fb);
            c.get(fc);
            double[] ref = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += (double) fa[i * k + p] * fb[j * k + p];
                    ref[i * n + j] = s;
                }
            double err = Check.relErr(fc, ref);
            assertTrue(err < 1e-5, "relative error " + err);
        }
    }

    @Test void rateIsPositiveAndFinite() {
        SgemmRate.Measurement r = SgemmRate.measure(128, 96, 64, 0.01);
        assertTrue(r.reps() >= 3 && r.gflops() > 0 && Double.isFinite(r.gflops()), r.toString());
        assertTrue(SgemmRate.threads() >= 1, "threads " + SgemmRate.threads());
        assertTrue(SgemmRate.config().contains("OpenBLAS"), SgemmRate.config());
    }
}
