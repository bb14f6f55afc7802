package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class ElementwiseTest extends OpTest {
    static final int BIG = 200_003; // several threads, and a ragged tail

    @Test
    void addScaleAndSumSquares() {
        Tensor a = rand(1, BIG), b = rand(1, BIG);
        double[] ad = d(a), bd = d(b), want = new double[BIG];
        be.add(a, b);
        for (int i = 0; i < BIG; i++) want[i] = ad[i] + bd[i];
        Check.assertClose("add", get(a), want, FWD_TOL);

        be.scale(a, -0.37f);
        for (int i = 0; i < BIG; i++) want[i] *= -0.37;
        Check.assertClose("scale", get(a), want, FWD_TOL);

        double ss = 0;
        for (float x : get(a)) ss += (double) x * x;
        assertEquals(ss, be.sumSquares(a), 1e-12 * ss, "sumSquares");
    }

    @Test
    void broadcastAndSumRows() {
        int rows = 3000, w = 70;
        Tensor row = rand(1, w), dst = rand(1, rows, w);
        be.broadcastRows(dst, row);
        double[] rd = d(row), want = new double[rows * w];
        for (int r = 0; r < rows; r++) System.arraycopy(rd, 0, want, r * w, w);
        Check.assertClose("broadcastRows", get(dst), want, 1e-12); // an exact copy

        Tensor src = rand(1, rows, w), sum = grad(w);
        double[] s0 = d(sum), sd = d(src), ws = new double[w];
        be.sumRows(sum, src);
        for (int r = 0; r < rows; r++) for (int j = 0; j < w; j++) ws[j] += sd[r * w + j];
        assertGrad("sumRows", sum, s0, ws);
    }

    @Test
    void toHeadsAndFromHeadsAreInverseLayouts() {
        int b = 2, n = 5, h = 3, hd = 4, w = 20, col = 6;
        Tensor src = rand(1, b * n, w), heads = rand(1, b, h, n, hd);
        be.toHeads(heads, src, col, b, h);
        double[] sd = d(src), want = new double[b * h * n * hd];
        for (int bb = 0; bb < b; bb++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < n; i++)
                    for (int e = 0; e < hd; e++)
                        want[((bb * h + hh) * n + i) * hd + e] = sd[(bb * n + i) * w + col + hh * hd + e];
        Check.assertClose("toHeads", get(heads), want, 1e-12); // an exact copy

        Tensor dst = rand(1, b * n, w), back = rand(1, b, h, n, hd);
        double[] dst0 = d(dst), bd = d(back), wantBack = dst0.clone();
        be.fromHeads(dst, col, back, b, h);
        for (int bb = 0; bb < b; bb++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < n; i++)
                    for (int e = 0; e < hd; e++)
                        wantBack[(bb * n + i) * w + col + hh * hd + e] += bd[((bb * h + hh) * n + i) * hd + e];
        Check.assertClose("fromHeads (+=, other columns kept)", get(dst), wantBack, FWD_TOL);
    }
}
