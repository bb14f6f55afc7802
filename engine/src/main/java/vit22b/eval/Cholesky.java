package vit22b.eval;

/** Solves symmetric positive-definite systems in double precision. */
final class Cholesky {
    private Cholesky() {}

    /** X (n x m) with A X = B for A (n x n) SPD; A is overwritten by its factor. */
    static double[] solve(double[] a, double[] b, int n, int m) {
        for (int j = 0; j < n; j++) {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
            if (!(d > 0)) throw new IllegalArgumentException("matrix is not positive definite (pivot " + j + " = " + d
                    + "); the features may contain NaN or the regularisation is too small");
            d = Math.sqrt(d);
            a[j * n + j] = d;
            for (int i = j + 1; i < n; i++) {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
                a[i * n + j] = s / d;
            }
        }
        double[] x = b.clone();
        for (int c = 0; c < m; c++) {
            for (int i = 0; i < n; i++) {      // L z = b
                double s = x[i * m + c];
                for (int k = 0; k < i; k++) s -= a[i * n + k] * x[k * m + c];
                x[i * m + c] = s / a[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--) { // L^T x = z
                double s = x[i * m + c];
                for (int k = i + 1; k < n; k++) s -= a[k * n + i] * x[k * m + c];
                x[i * m + c] = s / a[i * n + i];
            }
        }
        return x;
    }
}
