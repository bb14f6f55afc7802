package vit22b.data;

/**
 * Anti-aliased resampling as PIL's {@code Image.resize} computes it (libImaging/Resample.c), so
 * that our preprocessing equals timm's: separable passes (horizontal, then vertical), each
 * output pixel a normalised weighted sum of the input pixels under the filter stretched by the
 * downscaling factor (so a downscale averages, rather than skips, pixels). On float pixels, as
 * PIL's mode "F"; PIL's 8-bit modes round to integers after each pass (at most one level apart).
 */
public final class Resample {
    private Resample() {}

    /** PIL's filters: bilinear (triangle, support 1) and bicubic (Keys, a = -0.5, support 2). */
    public enum Filter {
        BILINEAR(1) {
            @Override double weight(double x) { x = Math.abs(x); return x < 1 ? 1 - x : 0; }
        },
        BICUBIC(2) {
            @Override double weight(double x) {
                final double a = -0.5;
                x = Math.abs(x);
                if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
                if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
                return 0;
            }
        };

        final double support;

        Filter(double support) { this.support = support; }

        abstract double weight(double x);
    }

    /** Weights of one output pixel: input pixels {@code first .. first + w.length - 1}. */
    record Taps(int first, double[] w) {}

    /** Per output pixel along an axis: the input window [in0, in1) of an axis of {@code inSize} pixels into outSize. */
    static Taps[] taps(int inSize, double in0, double in1, int outSize, Filter f) {
        double scale = (in1 - in0) / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = f.support * filterScale;
        Taps[] out = new Taps[outSize];
        for (int o = 0; o < outSize; o++) {
            double center = in0 + (o + 0.5) * scale;
            int lo = Math.max((int) (center - support + 0.5), 0);   // C's truncating cast, as PIL
            int hi = Math.min((int) (center + support + 0.5), inSize);
            double[] w = new double[Math.max(hi - lo, 0)];
            double sum = 0;
            for (int i = 0; i < w.length; i++) sum += w[i] = f.weight((i + lo - center + 0.5) / filterScale);
            if (sum != 0) for (int i = 0; i < w.length; i++) w[i] /= sum;
            out[o] = new Taps(lo, w);
        }
        return out;
    }

    /** The window (top, left, h, w) of {@code img} resampled to outH x outW with filter {@code f}. */
    public static Image resize(Image img, int top, int left, int h, int w, int outH, int outW, Filter f) {
        if (outH <= 0 || outW <= 0) throw new IllegalArgumentException("output size must be positive, got " + outH + "x" + outW);
        int C = img.channels(), H = img.height(), W = img.width();
        Taps[] tx = taps(W, left, left + w, outW, f), ty = taps(H, top, top + h, outH, f);
        // Horizontal pass over the rows the vertical pass reads, then the vertical pass.
        int r0 = ty[0].first(), r1 = ty[outH - 1].first() + ty[outH - 1].w().length;
        int rows = r1 - r0;
        float[] src = img.pixels(), mid = new float[C * rows * outW], out = new float[C * outH * outW];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < rows; y++) {
                int s = (c * H + r0 + y) * W, m = (c * rows + y) * outW;
                for (int x = 0; x < outW; x++) {
                    Taps t = tx[x];
                    double acc = 0;
                    for (int i = 0; i < t.w().length; i++) acc += t.w()[i] * src[s + t.first() + i];
                    mid[m + x] = (float) acc;
                }
            }
        for (int c = 0; c < C; c++)
            for (int y = 0; y < outH; y++) {
                Taps t = ty[y];
                int o = (c * outH + y) * outW;
                for (int x = 0; x < outW; x++) {
                    double acc = 0;
                    for (int i = 0; i < t.w().length; i++) acc += t.w()[i] * mid[(c * rows + t.first() - r0 + i) * outW + x];
                    out[o + x] = (float) acc;
                }
            }
        return new Image(C, outH, outW, out);
    }
}
