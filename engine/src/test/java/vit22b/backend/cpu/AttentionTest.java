package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class AttentionTest extends OpTest {

    /**
     * Naive float64 attention: out (B*Nq, stride) head h in columns [h*hd, (h+1)*hd), other
     * columns taken from {@code base}; lse (B, H, Nq) if not null.
     */
    static double[] ref(double[] q, double[] k, double[] v, int b, int h, int nq, int nk, int hd, int stride,
                        double[] base, double[] lse) {
        double[] out = base.clone();
        double scale = 1 / Math.sqrt(hd);
        for (int bb = 0; bb < b; bb++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < nq; i++) {
                    double[] s = new double[nk];
                    double sum = 0;
                    for (int j = 0; j < nk; j++) {
                        for (int e = 0; e < hd; e++)
                            s[j] += q[((bb * h + hh) * nq + i) * hd + e] * k[((bb * h + hh) * nk + j) * hd + e] * scale;
                        sum += Math.exp(s[j]);
                    }
                    for (int e = 0; e < hd; e++) {
                        double a = 0;
                        for (int j = 0; j < nk; j++) a += Math.exp(s[j]) / sum * v[((bb * h + hh) * nk + j) * hd + e];
                        out[(bb * nq + i) * stride + hh * hd + e] = a;
                    }
                    if (lse != null) lse[(bb * h + hh) * nq + i] = Math.log(sum);
                }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"2, 6, 49, 49, 64, 384", "3, 2, 1, 9, 8, 20", "2, 3, 5, 7, 4, 16",
            "1, 2, 80, 80, 64, 130"}) // the last: GEMMs big enough for OpenBLAS threads, pairs run serially
    void forwardMatchesFloat64(int b, int h, int nq, int nk, int hd, int stride) {
        Tensor q = rand(1, b, h, nq, hd), k = rand(1, b, h, nk, hd), v = rand(1, b, h, nk, hd);
        Tensor out = rand(1, b * nq, stride), lse = rand(1, b, h, nq);
        double[] base = d(out), refLse = new double[b * h * nq];
        double[] ref = ref(d(q), d(k), d(v), b, h, nq, nk, hd, stride, base, refLse);
        be.attentionForward(out, lse, q, k, v);
        Check.assertClose("attention out", get(out), ref, FWD_TOL);
        Check.assertClose("attention lse", get(lse), refLse, FWD_TOL);
        float[] o = get(out);
        for (int r = 0; r < b * nq; r++)
            for (int col = h * hd; col < stride; col++)
                assertEquals((float) base[r * stride + col], o[r * stride + col], "column beyond H*hd was touched");
    }

    @ParameterizedTest
    @CsvSource({"2, 2, 3, 5, 4, 11", "2, 3, 1, 6, 4, 12"})
    void backwardMatchesFiniteDifferences(int b, int h, int nq, int nk, int hd, int stride) {
        Tensor q = rand(1, b, h, nq, hd), k = rand(1, b, h, nk, hd), v = rand(1, b, h, nk, hd);
        Tensor out = rand(1, b * nq, stride), lse = rand(1, b, h, nq), dout = rand(1, b * nq, stride);
        be.attentionForward(out, lse, q, k, v);
        Tensor dq = grad(b, h, nq, hd), dk = grad(b, h, nk, hd), dv = grad(b, h, nk, hd);
        double[] dq0 = d(dq), dk0 = d(dk), dv0 = d(dv);
        be.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v);

        double[] qd = d(q), kd = d(k), vd = d(v), g = d(dout), base = new double[b * nq * stride];
        assertGrad("dq", dq, dq0, Check.fdGrad(qd, x -> dot(g, ref(x, kd, vd, b, h, nq, nk, hd, stride, base, null)), FD_H));
        assertGrad("dk", dk, dk0, Check.fdGrad(kd, x -> dot(g, ref(qd, x, vd, b, h, nq, nk, hd, stride, base, null)), FD_H));
        assertGrad("dv", dv, dv0, Check.fdGrad(vd, x -> dot(g, ref(qd, kd, x, b, h, nq, nk, hd, stride, base, null)), FD_H));
    }
}
