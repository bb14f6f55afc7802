package vit22b.eval;

import java.io.IOException;

import vit22b.data.Dataset;
import vit22b.data.Image;
import vit22b.data.Images;

/**
 * An evaluation set held in memory: n images (C, S, S) in [-1, 1], flattened, with labels;
 * {@code skipped} unreadable images were left out (with skip-bad).
 */
public record LabeledImages(float[] pixels, int[] labels, int channels, int size, int skipped) {
    public LabeledImages(float[] pixels, int[] labels, int channels, int size) { this(pixels, labels, channels, size, 0); }

    public LabeledImages {
        long expect = (long) labels.length * channels * size * size;
        if (pixels.length != expect)
            throw new IllegalArgumentException("evaluation set holds " + pixels.length + " pixel values, expected "
                    + labels.length + " x " + channels + " x " + size + " x " + size);
    }

    public int count() { return labels.length; }

    /** The first {@code n} examples (all when n >= count). */
    public LabeledImages head(int n) {
        if (n >= count()) return this;
        int per = channels * size * size;
        return new LabeledImages(java.util.Arrays.copyOf(pixels, n * per), java.util.Arrays.copyOf(labels, n), channels, size, skipped);
    }

    /**
     * The first {@code limit} examples of a dataset (all when limit <= 0) as the model sees them
     * at evaluation: channels converted, shorter side resized to {@code size}, centre crop.
     */
    public static LabeledImages of(Dataset d, int channels, int size, int limit) throws IOException {
        return of(d, channels, size, limit, false);
    }

    /**
     * As {@link #of(Dataset, int, int, int)}; with {@code skipBad}, an unreadable image is left
     * out and counted in {@link #skipped()} instead of stopping (the limit counts examples tried).
     */
    public static LabeledImages of(Dataset d, int channels, int size, int limit, boolean skipBad) throws IOException {
        int n = limit > 0 ? Math.min(limit, d.size()) : d.size();
        int per = channels * size * size;
        float[] px = new float[n * per];
        int[] labels = new int[n];
        int kept = 0;
        for (int i = 0; i < n; i++) {
            Image img;
            try {
                img = Images.resizeShorterCenterCrop(Images.convert(d.image(i), channels), size);
            } catch (IOException e) {
                if (!skipBad) throw new IOException(e.getMessage() + " (pass --skip-bad to skip unreadable images)", e);
                continue;
            }
            System.arraycopy(img.pixels(), 0, px, kept * per, per);
            labels[kept++] = d.label(i);
        }
        if (kept == 0 && n > 0) throw new IOException("no readable image among the " + n + " of " + d.name());
        return new LabeledImages(java.util.Arrays.copyOf(px, kept * per), java.util.Arrays.copyOf(labels, kept),
                channels, size, n - kept);
    }
}
