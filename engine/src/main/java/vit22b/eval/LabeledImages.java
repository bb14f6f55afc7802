package vit22b.eval;

import java.io.IOException;

import vit22b.data.Dataset;
import vit22b.data.Image;
import vit22b.data.Images;

/** An evaluation set held in memory: n images (C, S, S) in [-1, 1], flattened, with labels. */
public record LabeledImages(float[] pixels, int[] labels, int channels, int size) {
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
        return new LabeledImages(java.util.Arrays.copyOf(pixels, n * per), java.util.Arrays.copyOf(labels, n), channels, size);
    }

    /**
     * The first {@code limit} examples of a dataset (all when limit <= 0) as the model sees them
     * at evaluation: channels converted, shorter side resized to {@code size}, centre crop.
     */
    public static LabeledImages of(Dataset d, int channels, int size, int limit) throws IOException {
        int n = limit > 0 ? Math.min(limit, d.size()) : d.size();
        int per = channels * size * size;
        float[] px = new float[n * per];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            Image img = Images.resizeShorterCenterCrop(Images.convert(d.image(i), channels), size);
            System.arraycopy(img.pixels(), 0, px, i * per, per);
            labels[i] = d.label(i);
        }
        return new LabeledImages(px, labels, channels, size);
    }
}
