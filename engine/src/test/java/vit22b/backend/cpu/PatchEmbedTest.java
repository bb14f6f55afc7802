package vit22b.backend.cpu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class PatchEmbedTest extends OpTest {

    /** Naive float64 strided convolution + bias + position embedding, token = gy * grid + gx. */
    static double[] ref(double[] img, double[] w, double[] b, double[] pos, int batch, int c, int side, int p, int d) {
        int grid = side / p, n = grid * grid;
        double[] out = new double[batch * n * d];
        for (int bb = 0; bb < batch; bb++)
            for (int gy = 0; gy < grid; gy++)
                for (int gx = 0; gx < grid; gx++)
                    for (int o = 0; o < d; o++) {
                        int tok = gy * grid + gx;
                        double s = b[o] + pos[tok * d + o];
                        for (int ch = 0; ch < c; ch++)
                            for (int py = 0; py < p; py++)
                                for (int px = 0; px < p; px++)
                                    s += w[((o * c + ch) * p + py) * p + px]
                                            * img[((bb * c + ch) * side + gy * p + py) * side + gx * p + px];
                        out[(bb * n + tok) * d + o] = s;
                    }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"2, 1, 8, 4, 5", "3, 3, 9, 3, 6"})
    void forwardAndBackward(int batch, int c, int side, int p, int d) {
        int n = (side / p) * (side / p);
        Tensor img = rand(1, batch, c, side, side), w = rand(0.3, d, c, p, p), b = rand(1, d), pos = rand(1, n, d);
        Tensor out = rand(1, batch, n, d);
        be.patchEmbedForward(out, img, w, b, pos, p);
        double[] imgd = d(img), wd = d(w), bd = d(b), posd = d(pos);
        Check.assertClose("patch embedding", get(out), ref(imgd, wd, bd, posd, batch, c, side, p, d), FWD_TOL);

        Tensor dout = rand(1, batch, n, d), dw = grad(d, c, p, p), db = grad(d), dpos = grad(n, d);
        double[] dw0 = d(dw), db0 = d(db), dpos0 = d(dpos), g = d(dout);
        be.patchEmbedBackward(dw, db, dpos, dout, img, p);
        assertGrad("dw", dw, dw0, Check.fdGrad(wd, x -> dot(g, ref(imgd, x, bd, posd, batch, c, side, p, d)), FD_H));
        assertGrad("db", db, db0, Check.fdGrad(bd, x -> dot(g, ref(imgd, wd, x, posd, batch, c, side, p, d)), FD_H));
        assertGrad("dpos", dpos, dpos0, Check.fdGrad(posd, x -> dot(g, ref(imgd, wd, bd, x, batch, c, side, p, d)), FD_H));
    }
}
