package vit22b.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

/** Shared test helpers: seeded random inputs, relative error, central finite differences. */
public final class Check {
    private Check() {}

    /** Normal(0, std) floats from a seeded generator (never all zeros). */
    public static float[] randn(long seed, int n, double std) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (gaussian(r) * std);
        return a;
    }

    /** Uniform [lo, hi) floats from a seeded generator. */
    public static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return a;
    }

    public static double gaussian(SplittableRandom r) {
        double u = 1.0 - r.nextDouble(), v = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    public static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    /** ||out - ref|| / ||ref||; NaN anywhere gives NaN (which fails every bound). */
    public static double relErr(float[] out, double[] ref) {
        if (out.length != ref.length) throw new AssertionError("length " + out.length + " != " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < out.length; i++) {
            double d = out[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        if (den == 0) throw new AssertionError("reference is all zeros: the comparison proves nothing");
        return Math.sqrt(num / den);
    }

    public static void assertClose(String what, float[] out, double[] ref, double tol) {
        double e = relErr(out, ref);
        assertTrue(e < tol, what + ": relative error " + e + " >= " + tol);
    }

    /**
     * Every element within {@code rel * |ref[i]| + abs[i]}; NaN fails. Names the count and the
     * worst elements, so that one wrong element among many cannot hide behind a norm.
     */
    public static void assertElementwise(String what, float[] out, double[] ref, double rel, double[] abs) {
        if (out.length != ref.length || abs.length != ref.length)
            throw new AssertionError(what + ": lengths " + out.length + ", " + ref.length + ", " + abs.length);
        int bad = 0;
        StringBuilder worst = new StringBuilder();
        for (int i = 0; i < out.length; i++) {
            double err = Math.abs(out[i] - ref[i]), bound = rel * Math.abs(ref[i]) + abs[i];
            if (!(err <= bound)) {
                if (bad++ < 5) worst.append(String.format(java.util.Locale.ROOT, "%n  [%d] got %.7g, want %.7g (error %.3g > bound %.3g)",
                        i, out[i], ref[i], err, bound));
            }
        }
        assertTrue(bad == 0, what + ": " + bad + " of " + out.length + " elements outside " + rel + " relative + floor:" + worst);
    }

    /** Central finite-difference gradient of f at x (x is perturbed in place and restored). */
    public static double[] fdGrad(double[] x, ToDoubleFunction<double[]> f, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double old = x[i];
            x[i] = old + h;
            double fp = f.applyAsDouble(x);
            x[i] = old - h;
            double fm = f.applyAsDouble(x);
            x[i] = old;
            g[i] = (fp - fm) / (2 * h);
        }
        return g;
    }
}
