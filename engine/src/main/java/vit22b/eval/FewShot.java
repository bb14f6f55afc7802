package vit22b.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Few-shot linear evaluation on frozen features, big_vision's protocol: whiten the features
 * with the few-shot set's mean and std, append a large constant feature (an almost
 * unregularised bias), regress one-vs-all targets in {-1, +1} with L2-regularised least
 * squares in closed form, classify by the largest output. Accuracy averaged over seeds that
 * draw different k-shot training sets from a pool.
 */
public final class FewShot {
    /** big_vision's bias feature: large, so the L2 penalty barely touches the bias. */
    static final double BIAS_CONSTANT = 100.0;
    /** big_vision's default ridge strength. */
    public static final double DEFAULT_L2 = 1024.0;

    private FewShot() {}

    /** A fitted classifier: whitening statistics and weights W ((dim + 1) x classes). */
    public record Classifier(int dim, int classes, double[] mean, double[] std, double[] w) {

        public int predict(float[] x, int row) {
            int best = 0;
            double bestScore = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                double s = BIAS_CONSTANT * w[dim * classes + c];
                for (int j = 0; j < dim; j++) s += (x[row * dim + j] - mean[j]) / std[j] * w[j * classes + c];
                if (s > bestScore) { bestScore = s; best = c; }
            }
            return best;
        }

        public double accuracy(float[] x, int[] y) {
            int ok = 0;
            for (int i = 0; i < y.length; i++) if (predict(x, i) == y[i]) ok++;
            return (double) ok / y.length;
        }
    }

    /** Accuracy over seeds for one shot count: mean and (population) standard deviation. */
    public record Result(int shots, double mean, double std, double[] perSeed) {}

    /** Fits on features x (n x dim, row-major) with labels y in [0, classes). */
    public static Classifier fit(float[] x, int[] y, int dim, int classes, double l2) {
        int n = y.length;
        if (x.length != n * dim) throw new IllegalArgumentException("features hold " + x.length + " values, expected " + n + " x " + dim);
        if (!(l2 > 0)) throw new IllegalArgumentException("L2 regularisation must be positive, got " + l2);
        double[] mean = new double[dim], std = new double[dim];
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) mean[j] += x[i * dim + j];
        for (int j = 0; j < dim; j++) mean[j] /= n;
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) { double d = x[i * dim + j] - mean[j]; std[j] += d * d; }
        for (int j = 0; j < dim; j++) std[j] = Math.sqrt(std[j] / n) + 1e-5;
        int e = dim + 1;
        double[] a = new double[n * e];  // whitened features plus the bias column
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < dim; j++) a[i * e + j] = (x[i * dim + j] - mean[j]) / std[j];
            a[i * e + dim] = BIAS_CONSTANT;
        }
        double[] t = new double[n * classes];
        for (int i = 0; i < n; i++) {
            if (y[i] < 0 || y[i] >= classes) throw new IllegalArgumentException("label " + y[i] + " outside [0, " + classes + ")");
            for (int c = 0; c < classes; c++) t[i * classes + c] = y[i] == c ? 1 : -1;
        }
        double[] w;
        if (n >= e) {
            // Primal: (A^T A + l2 I) W = A^T T, an e x e system.
            double[] g = Lapack.gramOfColumns(a, n, e);
            Lapack.addDiagonal(g, e, l2);
            w = Lapack.solveSpd(g, Lapack.transposeTimes(a, t, n, e, classes), e, classes);
        } else {
            // Dual (fewer points than features): W = A^T (A A^T + l2 I)^-1 T, an n x n system.
            double[] k = Lapack.gramOfRows(a, n, e);
            Lapack.addDiagonal(k, n, l2);
            double[] alpha = Lapack.solveSpd(k, t, n, classes);
            w = Lapack.transposeTimes(a, alpha, n, e, classes);
        }
        return new Classifier(dim, classes, mean, std, w);
    }

    /**
     * For each shot count: over {@code seeds} seeds, draws that many examples per class from
     * the pool, fits, and measures accuracy on the test features.
     */
    public static List<Result> evaluate(float[] poolX, int[] poolY, float[] testX, int[] testY, int dim, int classes,
                                        int[] shots, int seeds, double l2, long seed) {
        if (seeds <= 0) throw new IllegalArgumentException("seeds must be positive, got " + seeds);
        List<Result> out = new ArrayList<>();
        for (int k : shots) {
            double[] acc = new double[seeds];
            for (int s = 0; s < seeds; s++) {
                int[] idx = sample(poolY, classes, k, seed * 1_000_003L + s * 7919L + k);
                float[] x = new float[idx.length * dim];
                int[] y = new int[idx.length];
                for (int i = 0; i < idx.length; i++) {
                    System.arraycopy(poolX, idx[i] * dim, x, i * dim, dim);
                    y[i] = poolY[idx[i]];
                }
                acc[s] = fit(x, y, dim, classes, l2).accuracy(testX, testY);
            }
            double mean = 0, var = 0;
            for (double a : acc) mean += a / seeds;
            for (double a : acc) var += (a - mean) * (a - mean) / seeds;
            out.add(new Result(k, mean, Math.sqrt(var), acc));
        }
        return out;
    }

    /** Indices of {@code shots} random examples of every class (seeded), class by class. */
    static int[] sample(int[] labels, int classes, int shots, long seed) {
        if (shots <= 0) throw new IllegalArgumentException("shots must be positive, got " + shots);
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) byClass.add(new ArrayList<>());
        for (int i = 0; i < labels.length; i++) byClass.get(labels[i]).add(i);
        SplittableRandom r = new SplittableRandom(seed);
        int[] out = new int[classes * shots];
        for (int c = 0; c < classes; c++) {
            List<Integer> l = byClass.get(c);
            if (l.size() < shots)
                throw new IllegalArgumentException("class " + c + " has " + l.size() + " examples in the pool, fewer than "
                        + shots + " shots; use a larger pool or fewer shots");
            for (int i = 0; i < shots; i++) {  // partial Fisher-Yates
                int j = i + r.nextInt(l.size() - i);
                Integer tmp = l.get(i); l.set(i, l.get(j)); l.set(j, tmp);
                out[c * shots + i] = l.get(i);
            }
        }
        return out;
    }
}
