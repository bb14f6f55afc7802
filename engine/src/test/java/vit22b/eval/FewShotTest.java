package vit22b.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.testing.Check;

class FewShotTest {

    /** Gaussian clusters: class c centred at a random point; returns features and fills labels. */
    static float[] clusters(long seed, int n, int dim, int classes, double spread, int[] labels) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] centres = Check.randn(seed + 1, classes * dim, 1.0);
        float[] x = new float[n * dim];
        for (int i = 0; i < n; i++) {
            labels[i] = i % classes;
            for (int j = 0; j < dim; j++) x[i * dim + j] = (float) (3 + centres[labels[i] * dim + j] + spread * Check.gaussian(r));
        }
        return x;
    }

    /** Naive reference: whiten, bias column, primal normal equations by Gaussian elimination. */
    static double[] naiveWeights(float[] x, int[] y, int dim, int classes, double l2) {
        int n = y.length, e = dim + 1;
        double[][] a = new double[n][e];
        for (int j = 0; j < dim; j++) {
            double m = 0, v = 0;
            for (int i = 0; i < n; i++) m += x[i * dim + j];
            m /= n;
            for (int i = 0; i < n; i++) v += Math.pow(x[i * dim + j] - m, 2);
            double s = Math.sqrt(v / n) + 1e-5;
            for (int i = 0; i < n; i++) a[i][j] = (x[i * dim + j] - m) / s;
        }
        for (int i = 0; i < n; i++) a[i][dim] = 100;
        double[][] g = new double[e][e + classes];
        for (int p = 0; p < e; p++) {
            for (int q = 0; q < e; q++) for (int i = 0; i < n; i++) g[p][q] += a[i][p] * a[i][q];
            g[p][p] += l2;
            for (int c = 0; c < classes; c++) for (int i = 0; i < n; i++) g[p][e + c] += a[i][p] * (y[i] == c ? 1 : -1);
        }
        for (int col = 0; col < e; col++) {
            int piv = col;
            for (int r = col + 1; r < e; r++) if (Math.abs(g[r][col]) > Math.abs(g[piv][col])) piv = r;
            double[] t = g[col]; g[col] = g[piv]; g[piv] = t;
            for (int r = 0; r < e; r++) {
                if (r == col) continue;
                double f = g[r][col] / g[col][col];
                for (int k = col; k < e + classes; k++) g[r][k] -= f * g[col][k];
            }
        }
        double[] w = new double[e * classes];
        for (int p = 0; p < e; p++) for (int c = 0; c < classes; c++) w[p * classes + c] = g[p][e + c] / g[p][p];
        return w;
    }

    @Test void closedFormMatchesNaiveInPrimalAndDualCases() {
        for (int n : new int[] {60, 9}) {  // n > dim + 1 (primal) and n < dim + 1 (dual)
            int dim = 12, classes = 3;
            int[] y = new int[n];
            float[] x = clusters(n, n, dim, classes, 0.7, y);
            var clf = FewShot.fit(x, y, dim, classes, 2.0);
            float[] got = new float[clf.w().length];
            for (int i = 0; i < got.length; i++) got[i] = (float) clf.w()[i];
            Check.assertClose("weights n=" + n, got, naiveWeights(x, y, dim, classes, 2.0), 1e-5);
        }
    }

    @Test void separatesClustersAndReportsSpreadOverSeeds() {
        int dim = 16, classes = 5;
        int[] poolY = new int[500], testY = new int[300];
        float[] pool = clusters(7, 500, dim, classes, 0.8, poolY);
        float[] test = clusters(7, 300, dim, classes, 0.8, testY);  // same centres (same seed + 1)
        var res = FewShot.evaluate(pool, poolY, test, testY, dim, classes, new int[] {1, 5, 25}, 4, FewShot.DEFAULT_L2, 3);
        assertEquals(3, res.size());
        assertTrue(res.get(2).mean() > 0.9, "25-shot accuracy " + res.get(2).mean());
        assertTrue(res.get(2).mean() >= res.get(0).mean() - 0.05, "more shots should not hurt much");
        assertTrue(res.get(0).std() >= 0 && res.get(0).perSeed().length == 4);
        double m = 0;
        for (double a : res.get(1).perSeed()) m += a / 4;
        assertEquals(m, res.get(1).mean(), 1e-12);
    }

    @Test void sampleDrawsExactlyKPerClassWithoutRepeats() {
        int[] labels = new int[100];
        for (int i = 0; i < 100; i++) labels[i] = (i * 7) % 4;
        int[] idx = FewShot.sample(labels, 4, 10, 42);
        assertEquals(40, idx.length);
        assertEquals(40, java.util.Arrays.stream(idx).distinct().count());
        for (int c = 0; c < 4; c++) for (int i = 0; i < 10; i++) assertEquals(c, labels[idx[c * 10 + i]]);
        assertThrows(IllegalArgumentException.class, () -> FewShot.sample(labels, 4, 26, 1));
    }
}
