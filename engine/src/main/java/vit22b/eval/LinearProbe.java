package vit22b.eval;

import java.util.SplittableRandom;

/**
 * Linear probe on frozen features (paper section 4.2.1): a softmax linear classifier trained
 * with mini-batch SGD with momentum (PyTorch's form: buf = mu buf + g; p -= lr buf) and a
 * cosine learning-rate decay. Features are standardised with the training set's statistics
 * so that one learning rate suits features of any scale.
 */
public final class LinearProbe {
    private final int dim, classes;
    private final double[] mean, std;
    final double[] w, b;          // w (classes x dim), b (classes)
    private final double[] mw, mb; // momentum buffers
    private final double momentum;

    /** Settings of {@link #train}: learning rate, momentum, epochs, batch size, seed. */
    public record Settings(double lr, double momentum, int epochs, int batch, long seed) {
        public Settings {
            if (!(lr > 0) || momentum < 0 || momentum >= 1 || epochs <= 0 || batch <= 0)
                throw new IllegalArgumentException("probe settings need lr > 0, momentum in [0, 1), epochs > 0, batch > 0; got "
                        + lr + ", " + momentum + ", " + epochs + ", " + batch);
        }

        public static Settings defaults() { return new Settings(0.1, 0.9, 30, 256, 0); }
    }

    LinearProbe(int dim, int classes, double[] mean, double[] std, double momentum) {
        this.dim = dim;
        this.classes = classes;
        this.mean = mean;
        this.std = std;
        this.momentum = momentum;
        w = new double[classes * dim];
        b = new double[classes];
        mw = new double[w.length];
        mb = new double[classes];
    }

    /** Trains a probe on features x (n x dim) with labels y. */
    public static LinearProbe train(float[] x, int[] y, int dim, int classes, Settings s) {
        int n = y.length;
        if (x.length != n * dim) throw new IllegalArgumentException("features hold " + x.length + " values, expected " + n + " x " + dim);
        for (int l : y) if (l < 0 || l >= classes) throw new IllegalArgumentException("label " + l + " outside [0, " + classes + ")");
        double[] mean = new double[dim], std = new double[dim];
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) mean[j] += x[i * dim + j] / (double) n;
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) { double d = x[i * dim + j] - mean[j]; std[j] += d * d / n; }
        for (int j = 0; j < dim; j++) std[j] = Math.sqrt(std[j]) + 1e-6;
        LinearProbe p = new LinearProbe(dim, classes, mean, std, s.momentum());
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        SplittableRandom r = new SplittableRandom(s.seed());
        int perEpoch = (n + s.batch() - 1) / s.batch();
        long total = (long) perEpoch * s.epochs(), t = 0;
        for (int e = 0; e < s.epochs(); e++) {
            for (int i = n - 1; i > 0; i--) { int j = r.nextInt(i + 1); int tmp = order[i]; order[i] = order[j]; order[j] = tmp; }
            for (int start = 0; start < n; start += s.batch()) {
                int[] rows = java.util.Arrays.copyOfRange(order, start, Math.min(n, start + s.batch()));
                double lr = s.lr() * 0.5 * (1 + Math.cos(Math.PI * t++ / total));
                p.step(x, y, rows, lr);
            }
        }
        return p;
    }

    /** One SGD-with-momentum step on the given rows; returns their mean cross-entropy before it. */
    double step(float[] x, int[] y, int[] rows, double lr) {
        double[] gw = new double[w.length], gb = new double[classes], z = new double[dim], p = new double[classes];
        double loss = 0;
        for (int i : rows) {
            standardise(x, i, z);
            logits(z, p);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double v : p) max = Math.max(max, v);
            for (int c = 0; c < classes; c++) { p[c] = Math.exp(p[c] - max); sum += p[c]; }
            loss += Math.log(sum) - Math.log(p[y[i]]);
            for (int c = 0; c < classes; c++) {
                double d = (p[c] / sum - (c == y[i] ? 1 : 0)) / rows.length;
                gb[c] += d;
                for (int j = 0; j < dim; j++) gw[c * dim + j] += d * z[j];
            }
        }
        for (int k = 0; k < w.length; k++) { mw[k] = momentum * mw[k] + gw[k]; w[k] -= lr * mw[k]; }
        for (int c = 0; c < classes; c++) { mb[c] = momentum * mb[c] + gb[c]; b[c] -= lr * mb[c]; }
        return loss / rows.length;
    }

    public int predict(float[] x, int row) {
        double[] z = new double[dim], p = new double[classes];
        standardise(x, row, z);
        logits(z, p);
        int best = 0;
        for (int c = 1; c < classes; c++) if (p[c] > p[best]) best = c;
        return best;
    }

    public double accuracy(float[] x, int[] y) {
        int ok = 0;
        for (int i = 0; i < y.length; i++) if (predict(x, i) == y[i]) ok++;
        return (double) ok / y.length;
    }

    private void standardise(float[] x, int row, double[] z) {
        for (int j = 0; j < dim; j++) z[j] = (x[row * dim + j] - mean[j]) / std[j];
    }

    private void logits(double[] z, double[] out) {
        for (int c = 0; c < classes; c++) {
            double s = b[c];
            for (int j = 0; j < dim; j++) s += w[c * dim + j] * z[j];
            out[c] = s;
        }
    }
}
