package vit22b.backend.cpu;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Base of the CPU op tests: tensors from seeded random data, freed after each test, and the
 * gradient check of an accumulating backward.
 *
 * <p>Tolerances: forward outputs against float64 references must be within 1e-5 (DESIGN.md).
 * Backward outputs are checked against central differences (h = 1e-6) of the float64
 * reference, whose own error is about 1e-9; the float32 backward then differs by its
 * rounding (about 1e-6 relative), so 1e-4 catches any wrong term while leaving margin.
 */
abstract class OpTest {
    static final double FWD_TOL = 1e-5, BWD_TOL = 1e-4, FD_H = 1e-6;

    final CpuBackend be = new CpuBackend();
    private final List<Tensor> owned = new ArrayList<>();
    private long seed = 1;

    @AfterEach
    void freeAll() {
        owned.forEach(be::free);
        owned.clear();
    }

    /** A tensor holding data. */
    Tensor t(float[] data, int... shape) {
        Tensor x = be.allocate(shape);
        owned.add(x);
        be.upload(x, data);
        return x;
    }

    /** A tensor of fresh normal(0, std) values from the next seed. */
    Tensor rand(double std, int... shape) {
        return t(randn(Math.toIntExact(Tensor.sizeOf(shape)), std), shape);
    }

    float[] randn(int n, double std) {
        return Check.randn(seed++, n, std);
    }

    float[] get(Tensor x) { return be.download(x); }

    double[] d(Tensor x) { return Check.toDouble(get(x)); }

    /** Gradient tensors start random, so that every check also proves += semantics. */
    Tensor grad(int... shape) { return rand(0.01, shape); }

    /** Checks that grad now holds before + ref (ref a finite-difference gradient). */
    void assertGrad(String what, Tensor grad, double[] before, double[] ref) {
        float[] now = get(grad);
        float[] delta = new float[now.length];
        for (int i = 0; i < now.length; i++) delta[i] = (float) (now[i] - before[i]);
        Check.assertClose(what, delta, ref, BWD_TOL);
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
