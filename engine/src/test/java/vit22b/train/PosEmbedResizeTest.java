package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

import vit22b.testing.Check;

class PosEmbedResizeTest {

    @Test void sameGridIsIdentity() {
        float[] p = Check.randn(1, 7 * 7 * 5, 1);
        assertArrayEquals(p, PosEmbedResize.bilinear(p, 7, 7, 5));
    }

    @Test void reproducesAPlaneAtInteriorCentres() {
        // Channel k holds a_k + b_k * row + c_k * col at old patch centres; bilinear interpolation
        // must give the same plane at every new centre that falls inside the old grid.
        int g = 7, ng = 12, dim = 3;
        float[] coef = Check.randn(2, 3 * dim, 1);
        float[] p = new float[g * g * dim];
        for (int r = 0; r < g; r++) for (int c = 0; c < g; c++) for (int k = 0; k < dim; k++)
            p[(r * g + c) * dim + k] = coef[k] + coef[dim + k] * r + coef[2 * dim + k] * c;
        float[] out = PosEmbedResize.bilinear(p, g, ng, dim);
        double ratio = (double) g / ng;
        int checked = 0;
        for (int i = 0; i < ng; i++) for (int j = 0; j < ng; j++) {
            double sy = (i + 0.5) * ratio - 0.5, sx = (j + 0.5) * ratio - 0.5;
            if (sy < 0 || sx < 0 || sy > g - 1 || sx > g - 1) continue;
            for (int k = 0; k < dim; k++)
                assertEquals(coef[k] + coef[dim + k] * sy + coef[2 * dim + k] * sx, out[(i * ng + j) * dim + k], 1e-4);
            checked++;
        }
        assertEquals(100, checked);
    }

    @Test void downsamplingByTwoAveragesNeighbours() {
        int dim = 2;
        float[] p = Check.randn(3, 4 * 4 * dim, 1);
        float[] out = PosEmbedResize.bilinear(p, 4, 2, dim);
        for (int k = 0; k < dim; k++) {
            double mean = (p[k] + p[dim + k] + p[4 * dim + k] + p[5 * dim + k]) / 4;
            assertEquals(mean, out[k], 1e-6);
        }
        assertThrows(IllegalArgumentException.class, () -> PosEmbedResize.bilinear(p, 5, 2, dim));
    }
}
