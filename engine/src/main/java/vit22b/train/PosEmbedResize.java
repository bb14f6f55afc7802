package vit22b.train;

/**
 * Fine-tuning at a new resolution (paper section 2): the learned position embeddings of an
 * old g x g patch grid are resampled to the new grid by 2D bilinear interpolation, treating
 * each embedding as the value at its patch centre (half-pixel centres, edges clamped).
 */
public final class PosEmbedResize {
    private PosEmbedResize() {}

    /** pos (oldGrid^2 x dim, row-major over the grid) resampled to (newGrid^2 x dim). */
    public static float[] bilinear(float[] pos, int oldGrid, int newGrid, int dim) {
        if (oldGrid <= 0 || newGrid <= 0 || dim <= 0)
            throw new IllegalArgumentException("grids and width must be positive: " + oldGrid + ", " + newGrid + ", " + dim);
        if (pos.length != oldGrid * oldGrid * dim)
            throw new IllegalArgumentException("position embedding holds " + pos.length + " values, expected "
                    + oldGrid + "^2 x " + dim);
        if (oldGrid == newGrid) return pos.clone();
        float[] out = new float[newGrid * newGrid * dim];
        double ratio = (double) oldGrid / newGrid;
        for (int i = 0; i < newGrid; i++) {
            double sy = clamp((i + 0.5) * ratio - 0.5, oldGrid);
            int y0 = (int) Math.floor(sy), y1 = Math.min(y0 + 1, oldGrid - 1);
            double fy = sy - y0;
            for (int j = 0; j < newGrid; j++) {
                double sx = clamp((j + 0.5) * ratio - 0.5, oldGrid);
                int x0 = (int) Math.floor(sx), x1 = Math.min(x0 + 1, oldGrid - 1);
                double fx = sx - x0;
                int o = (i * newGrid + j) * dim;
                int a = (y0 * oldGrid + x0) * dim, b = (y0 * oldGrid + x1) * dim;
                int c = (y1 * oldGrid + x0) * dim, d = (y1 * oldGrid + x1) * dim;
                for (int k = 0; k < dim; k++) {
                    double top = pos[a + k] * (1 - fx) + pos[b + k] * fx;
                    double bottom = pos[c + k] * (1 - fx) + pos[d + k] * fx;
                    out[o + k] = (float) (top * (1 - fy) + bottom * fy);
                }
            }
        }
        return out;
    }

    private static double clamp(double s, int grid) { return Math.max(0, Math.min(grid - 1, s)); }
}
