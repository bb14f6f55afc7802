package vit22b.eval;

import java.io.IOException;

import vit22b.data.Dataset;
import vit22b.data.Image;
import vit22b.data.Images;

/**
 * An evaluation set held in memory: n images (C, S, S) in [-1, 1], flattened, with labels;
 * {@code skipped} unreadable images were left out (with skip-bad).
 */
public record LabeledImages(float[] pixels, int[] labels, int channels, int size, long skipped) implements EvalImages {
    public LabeledImages(float[] pixels, int[] labels, int channels, int size) { this(pixels, labels, channels, size, 0); }

    public LabeledImages {
        long expect = (long) labels.length * channels * size * size;
        if (pixels.length != expect)
            throw new IllegalArgumentException("evaluation set holds " + pixels.length + " pixel values, expected "
                    + labels.length + " x " + channels + " x " + size + " x " + size);
    }

    @Override public long count() { return labels.length; }

    @Override public Chunk read(long start, int n) {
        int from = (int) Math.min(start, labels.length), to = (int) Math.min((long) from + n, labels.length);
        int per = channels * size * size;
        return new Chunk(java.util.Arrays.copyOfRange(pixels, from * per, to * per),
                java.util.Arrays.copyOfRange(labels, from, to));
    }

    /** Example i of {@code d} as the model sees it at evaluation: channels converted, shorter side resized, centre crop. */
    static Image evalView(Dataset d, int i, int channels, int size) throws IOException {
        return Images.resizeShorterCenterCrop(Images.convert(d.image(i), channels), size);
    }

    /** The first {@code n} examples (all when n >= count). */
    public LabeledImages head(int n) {
        if (n >= labels.length) return this;
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
        long values = (long) n * per;
        if (values > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException(n + " images of " + channels + " x " + size + " x " + size
                    + " are too many to hold in memory; evaluate them streamed (StreamedImages) or lower the limit");
        float[] px = new float[(int) values];
        int[] labels = new int[n];
        int kept = 0;
        for (int i = 0; i < n; i++) {
            Image img;
            try {
                img = evalView(d, i, channels, size);
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
