package vit22b.backend.cpu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** Linear layers and the fused out-projection: both are one GEMM plus bias each way. */
class LinearTest extends OpTest {

    /** out (R, N) = base + in (R, K) @ w^T (N x K) + bias (nullable). */
    static double[] ref(double[] base, double[] in, double[] w, double[] bias, int rows, int n, int k) {
        double[] out = base == null ? new double[rows * n] : base.clone();
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int j = 0; j < k; j++) s += in[r * k + j] * w[o * k + j];
                out[r * n + o] += s;
            }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"true", "false"})
    void linearForwardAndBackward(boolean withBias) {
        int rows = 6, n = 5, k = 7;
        Tensor in = rand(1, rows, k), w = rand(1, n, k), bias = withBias ? rand(1, n) : null, out = rand(1, rows, n);
        be.linearForward(out, in, w, bias);
        double[] ind = d(in), wd = d(w), bd = withBias ? d(bias) : null;
        Check.assertClose("linear out", get(out), ref(null, ind, wd, bd, rows, n, k), FWD_TOL);

        Tensor dout = rand(1, rows, n), din = grad(rows, k), dw = grad(n, k), db = withBias ? grad(n) : null;
        double[] din0 = d(din), dw0 = d(dw), db0 = withBias ? d(db) : null, g = d(dout);
        be.linearBackward(withBias ? din : null, dw, db, dout, in, w);
        if (withBias) {
            assertGrad("din", din, din0, Check.fdGrad(ind, x -> dot(g, ref(null, x, wd, bd, rows, n, k)), FD_H));
            assertGrad("dbias", db, db0, Check.fdGrad(bd, x -> dot(g, ref(null, ind, wd, x, rows, n, k)), FD_H));
        } else {
            Check.assertClose("din untouched when null", get(din), din0, 1e-12);
        }
        assertGrad("dw", dw, dw0, Check.fdGrad(wd, x -> dot(g, ref(null, ind, x, bd, rows, n, k)), FD_H));
    }

    @ParameterizedTest
    @CsvSource({"true", "false"})
    void outProjectionForwardAndBackward(boolean inPlace) {
        int t = 6, d = 4, m = 8;
        Tensor x = rand(1, t, d), ag = rand(1, t, d + m), w = rand(0.5, d, d + m), b = rand(1, d);
        Tensor out = inPlace ? x : rand(1, t, d);
        double[] xd = d(x), agd = d(ag), wd = d(w), bd = d(b);
        be.outProjectionForward(out, x, ag, w, b);
        Check.assertClose("out-projection out", get(out), ref(xd, agd, wd, bd, t, d, d + m), FWD_TOL);

        Tensor dout = rand(1, t, d), dag = grad(t, d + m), dw = grad(d, d + m), db = grad(d);
        double[] dag0 = d(dag), dw0 = d(dw), db0 = d(db), g = d(dout);
        be.outProjectionBackward(dag, dw, db, dout, ag, w);
        assertGrad("dag", dag, dag0, Check.fdGrad(agd, v -> dot(g, ref(xd, v, wd, bd, t, d, d + m)), FD_H));
        assertGrad("dwOut", dw, dw0, Check.fdGrad(wd, v -> dot(g, ref(xd, agd, v, bd, t, d, d + m)), FD_H));
        assertGrad("dbOut", db, db0, Check.fdGrad(bd, v -> dot(g, ref(xd, agd, wd, v, t, d, d + m)), FD_H));
    }
}
