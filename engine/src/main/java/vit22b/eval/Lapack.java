package vit22b.eval;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * The few-shot solver's dense float64 algebra through OpenBLAS (BLAS-3 and LAPACK): with
 * ViT-22B's 6144-wide features the Gram matrix and its Cholesky solve are ~10^12 flops, which
 * hand-written Java loops would take minutes over. Row-major; symmetric matrices are formed and
 * read in their upper triangle.
 */
final class Lapack {
    private Lapack() {}

    static {
        Loader.load(openblas.class);
    }

    /** A^T A (e x e, upper triangle) of A (n x e). */
    static double[] gramOfColumns(double[] a, int n, int e) {
        double[] g = new double[e * e];
        openblas.cblas_dsyrk(openblas.CblasRowMajor, openblas.CblasUpper, openblas.CblasTrans, e, n, 1.0, a, e, 0.0, g, e);
        return g;
    }

    /** A A^T (n x n, upper triangle) of A (n x e). */
    static double[] gramOfRows(double[] a, int n, int e) {
        double[] k = new double[n * n];
        openblas.cblas_dsyrk(openblas.CblasRowMajor, openblas.CblasUpper, openblas.CblasNoTrans, n, e, 1.0, a, e, 0.0, k, n);
        return k;
    }

    /** A^T B (e x m) of A (n x e) and B (n x m). */
    static double[] transposeTimes(double[] a, double[] b, int n, int e, int m) {
        double[] out = new double[e * m];
        openblas.cblas_dgemm(openblas.CblasRowMajor, openblas.CblasTrans, openblas.CblasNoTrans, e, m, n,
                1.0, a, e, b, m, 0.0, out, m);
        return out;
    }

    /** Adds {@code v} to the diagonal of the n x n matrix {@code a}. */
    static void addDiagonal(double[] a, int n, double v) {
        for (int i = 0; i < n; i++) a[i * n + i] += v;
    }

    /**
     * X (n x m) with A X = B for symmetric positive-definite A (n x n, upper triangle read):
     * LAPACK dposv (Cholesky factorisation and two triangular solves). A and B are overwritten.
     */
    static double[] solveSpd(double[] a, double[] b, int n, int m) {
        int info = openblas.LAPACKE_dposv(openblas.LAPACK_ROW_MAJOR, (byte) 'U', n, m, a, n, b, m);
        if (info > 0)
            throw new IllegalArgumentException("matrix is not positive definite (leading minor " + info
                    + "); the features may contain NaN or the regularisation is too small");
        if (info < 0) throw new IllegalStateException("LAPACKE_dposv rejected argument " + (-info));
        return b;
    }
}
