package vit22b.eval;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.testing.Check;

class LinearProbeTest {

    @Test void sgdStepsMatchNaiveMomentumWithFiniteDifferenceGradients() {
        int n = 20, dim = 5, classes = 3;
        int[] y = new int[n];
        float[] x = FewShotTest.clusters(11, n, dim, classes, 1.0, y);
        double[] mean = new double[dim], std = new double[dim];
        java.util.Arrays.fill(std, 2.0);
        for (int j = 0; j < dim; j++) mean[j] = 0.5 * j;
        var p = new LinearProbe(dim, classes, mean, std, 0.9);
        int[] rows = {0, 3, 4, 7, 8, 13, 19};
        // Naive: parameters theta = [w | b]; loss by direct formula; gradient by central differences.
        double[] theta = new double[classes * dim + classes], buf = new double[theta.length];
        java.util.function.ToDoubleFunction<double[]> loss = th -> {
            double s = 0;
            for (int i : rows) {
                double[] l = new double[classes];
                double norm = 0;
                for (int c = 0; c < classes; c++) {
                    l[c] = th[classes * dim + c];
                    for (int j = 0; j < dim; j++) l[c] += th[c * dim + j] * (x[i * dim + j] - mean[j]) / std[j];
                    norm += Math.exp(l[c]);
                }
                s += Math.log(norm) - l[y[i]];
            }
            return s / rows.length;
        };
        for (int it = 0; it < 3; it++) {
            double lr = 0.3 / (it + 1);
            double[] g = Check.fdGrad(theta, loss, 1e-6);
            for (int k = 0; k < theta.length; k++) { buf[k] = 0.9 * buf[k] + g[k]; theta[k] -= lr * buf[k]; }
            p.step(x, y, rows, lr);
        }
        float[] got = new float[theta.length];
        for (int k = 0; k < classes * dim; k++) got[k] = (float) p.w[k];
        for (int c = 0; c < classes; c++) got[classes * dim + c] = (float) p.b[c];
        Check.assertClose("probe parameters after 3 steps", got, theta, 1e-6);
    }

    @Test void learnsSeparableClusters() {
        int dim = 10, classes = 4;
        int[] y = new int[400], ty = new int[200];
        float[] x = FewShotTest.clusters(5, 400, dim, classes, 0.6, y);
        float[] tx = FewShotTest.clusters(5, 200, dim, classes, 0.6, ty);
        var probe = LinearProbe.train(x, y, dim, classes, new LinearProbe.Settings(0.1, 0.9, 10, 32, 1));
        double acc = probe.accuracy(tx, ty);
        assertTrue(acc > 0.95, "probe accuracy " + acc);
    }
}
