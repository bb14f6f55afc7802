package vit22b.backend.cpu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import vit22b.model.GeluKind;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class GeluTest extends OpTest {

    /** erf by its everywhere-convergent series of positive terms (no cancellation), in float64. */
    static double erf(double x) {
        double ax = Math.abs(x), term = ax, sum = ax;
        for (int n = 1; term > 1e-17 * sum; n++) {
            term *= 2 * ax * ax / (2 * n + 1);
            sum += term;
        }
        return Math.signum(x) * 2 / Math.sqrt(Math.PI) * Math.exp(-ax * ax) * sum;
    }

    static double gelu(double x, GeluKind kind) {
        if (kind == GeluKind.TANH)
            return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    static double[] ref(double[] x, GeluKind kind) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = gelu(x[i], kind);
        return y;
    }

    @ParameterizedTest
    @EnumSource(GeluKind.class)
    void forwardMatchesFloat64(GeluKind kind) {
        int n = 100_000; // large enough to run on several threads
        Tensor x = rand(2.5, n), out = rand(1, n);
        be.geluForward(out, x, kind);
        Check.assertClose("gelu " + kind, get(out), ref(d(x), kind), FWD_TOL);
        // the left tail on its own, where exact GELU is x * Phi(x) with Phi tiny
        Tensor tail = t(Check.uniform(7, 1000, -7, -3), 1000), tailOut = rand(1, 1000);
        be.geluForward(tailOut, tail, kind);
        Check.assertClose("gelu tail " + kind, get(tailOut), ref(d(tail), kind), FWD_TOL);
    }

    @ParameterizedTest
    @EnumSource(GeluKind.class)
    void backwardMatchesFiniteDifferences(GeluKind kind) {
        int n = 300;
        Tensor x = rand(2, n), dout = rand(1, n), din = grad(n);
        double[] din0 = d(din), xd = d(x), g = d(dout);
        be.geluBackward(din, dout, x, kind);
        assertGrad("gelu' " + kind, din, din0, Check.fdGrad(xd, v -> dot(g, ref(v, kind)), FD_H));
    }
}
