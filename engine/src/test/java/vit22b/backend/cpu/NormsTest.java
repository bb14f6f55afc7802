package vit22b.backend.cpu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class NormsTest extends OpTest {
    static final float EPS = 1e-6f;

    /** Naive float64 norm of rows of width w; stats (rows, 2) if not null. */
    static double[] ref(double[] x, double[] scale, double[] bias, int w, boolean centered, double eps, double[] stats) {
        int rows = x.length / w;
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0, ms = 0;
            if (centered) {
                for (int j = 0; j < w; j++) mean += x[r * w + j];
                mean /= w;
            }
            for (int j = 0; j < w; j++) ms += (x[r * w + j] - mean) * (x[r * w + j] - mean);
            double rstd = 1 / Math.sqrt(ms / w + eps);
            for (int j = 0; j < w; j++)
                y[r * w + j] = (x[r * w + j] - mean) * rstd * scale[j] + (bias == null ? 0 : bias[j]);
            if (stats != null) {
                stats[2 * r] = mean;
                stats[2 * r + 1] = rstd;
            }
        }
        return y;
    }

    /** Adds a mean offset, so that centering changes the result. */
    static float[] offset(float[] x, float by) {
        for (int i = 0; i < x.length; i++) x[i] += by;
        return x;
    }

    @ParameterizedTest
    @CsvSource({"384, false, false", "384, true, false", "384, true, true", "64, false, false", "64, true, true", "64, false, true"})
    void forwardMatchesFloat64(int w, boolean centered, boolean withBias) {
        int rows = 7;
        Tensor x = t(offset(randn(rows * w, 1.5), 0.7f), rows, w), scale = rand(1, w), bias = withBias ? rand(1, w) : null;
        Tensor out = be.allocate(rows, w), stats = be.allocate(rows, 2);
        be.normForward(out, stats, x, scale, bias, centered, EPS);
        double[] refStats = new double[2 * rows];
        double[] ref = ref(d(x), d(scale), bias == null ? null : d(bias), w, centered, EPS, refStats);
        Check.assertClose("norm out", get(out), ref, FWD_TOL);
        Check.assertClose("norm stats", get(stats), refStats, FWD_TOL);
        if (!centered) for (int r = 0; r < rows; r++) org.junit.jupiter.api.Assertions.assertEquals(0f, get(stats)[2 * r]);
        be.free(out);
        be.free(stats);
    }

    @ParameterizedTest
    @CsvSource({"3, 16, false, false", "3, 16, true, false", "3, 16, true, true", "3, 64, false, true",
            "3, 64, true, false", "100, 64, true, true"}) // 100 rows: several threads and partial flushes
    void backwardMatchesFiniteDifferences(int rows, int w, boolean centered, boolean withBias) {
        Tensor x = t(offset(randn(rows * w, 1), 0.7f), rows, w), scale = rand(1, w), bias = withBias ? rand(1, w) : null;
        Tensor out = rand(1, rows, w), stats = rand(1, rows, 2), dout = rand(1, rows, w);
        be.normForward(out, stats, x, scale, bias, centered, EPS);
        Tensor dx = grad(rows, w), dscale = grad(w), dbias = withBias ? grad(w) : null;
        double[] dx0 = d(dx), ds0 = d(dscale), db0 = withBias ? d(dbias) : null;
        be.normBackward(dx, dscale, dbias, dout, x, scale, stats, centered);

        double[] xd = d(x), sd = d(scale), bd = withBias ? d(bias) : null, g = d(dout);
        assertGrad("dx", dx, dx0, Check.fdGrad(xd, v -> dot(g, ref(v, sd, bd, w, centered, EPS, null)), FD_H));
        assertGrad("dscale", dscale, ds0, Check.fdGrad(sd, v -> dot(g, ref(xd, v, bd, w, centered, EPS, null)), FD_H));
        if (withBias)
            assertGrad("dbias", dbias, db0, Check.fdGrad(bd, v -> dot(g, ref(xd, sd, v, w, centered, EPS, null)), FD_H));
    }
}
