package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.model.LossKind;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class LossTest extends OpTest {

    /** Naive float64 mean loss straight from the definitions (no stabilising tricks). */
    static double ref(double[] z, double[] t, int b, LossKind kind) {
        int c = z.length / b;
        double total = 0;
        for (int r = 0; r < b; r++) {
            if (kind == LossKind.SIGMOID) {
                for (int j = 0; j < c; j++) {
                    double s = 1 / (1 + Math.exp(-z[r * c + j]));
                    total -= t[r * c + j] * Math.log(s) + (1 - t[r * c + j]) * Math.log(1 - s);
                }
            } else {
                double sum = 0;
                for (int j = 0; j < c; j++) sum += Math.exp(z[r * c + j]);
                for (int j = 0; j < c; j++) total -= t[r * c + j] * Math.log(Math.exp(z[r * c + j]) / sum);
            }
        }
        return total / b;
    }

    static float[] targets(int b, int c, boolean multiHot, long seed) {
        float[] t = new float[b * c];
        float[] u = Check.uniform(seed, b * c, 0, 1);
        for (int r = 0; r < b; r++) {
            t[r * c + (int) (u[r * c] * c)] = 1;
            if (multiHot) for (int j = 0; j < c; j++) if (u[r * c + j] < 0.3) t[r * c + j] = 1;
        }
        return t;
    }

    @ParameterizedTest
    @CsvSource({"SIGMOID, false", "SIGMOID, true", "SOFTMAX, false", "SOFTMAX, true"})
    void lossAndGradientMatchFloat64(LossKind kind, boolean multiHot) {
        int b = 5, c = 7;
        Tensor z = rand(3, b, c), tg = t(targets(b, c, multiHot, 99), b, c), dz = rand(1, b, c);
        double loss = be.lossForwardBackward(z, tg, dz, kind);
        double[] zd = d(z), td = d(tg);
        double want = ref(zd, td, b, kind);
        assertEquals(want, loss, 1e-6 * Math.abs(want), "loss");
        // dlogits is written, not accumulated: compare it directly
        Check.assertClose("dlogits", get(dz), Check.fdGrad(zd, v -> ref(v, td, b, kind), FD_H), BWD_TOL);
    }

    @ParameterizedTest
    @CsvSource({"SIGMOID", "SOFTMAX"})
    void largeLogitsStayFinite(LossKind kind) {
        Tensor z = t(new float[] {200, -200, 90, -300}, 2, 2), tg = t(new float[] {0, 1, 1, 0}, 2, 2), dz = rand(1, 2, 2);
        double loss = be.lossForwardBackward(z, tg, dz, kind);
        double want = 200; // sigmoid: (200 + 200 + ~0 + ~0) / 2; softmax: (400 + ~0) / 2
        assertEquals(want, loss, 1e-9 * want);
        for (float g : get(dz)) assertEquals(true, Float.isFinite(g));
    }
}
