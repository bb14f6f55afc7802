package vit22b.eval;

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
}
