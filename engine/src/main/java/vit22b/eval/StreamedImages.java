package vit22b.eval;

import java.io.IOException;
import java.util.Arrays;

import vit22b.data.Dataset;
import vit22b.data.Image;

/**
 * A dataset's examples decoded only when a batch of them is read: memory holds one batch, however
 * large the set. Not thread-safe (one evaluation reads it).
 */
public final class StreamedImages implements EvalImages {
    private final Dataset data;
    private final int channels, size;
    private final long count;
    private final boolean skipBad;
    private long skipped;

    private StreamedImages(Dataset data, int channels, int size, long count, boolean skipBad) {
        this.data = data;
        this.channels = channels;
        this.size = size;
        this.count = count;
        this.skipBad = skipBad;
    }

    /** The first {@code limit} examples of {@code d} (all when limit <= 0); nothing is decoded yet. */
    public static StreamedImages of(Dataset d, int channels, int size, long limit, boolean skipBad) {
        if (channels <= 0 || size <= 0) throw new IllegalArgumentException("channels and size must be positive");
        long n = limit > 0 ? Math.min(limit, d.size()) : d.size();
        return new StreamedImages(d, channels, size, n, skipBad);
    }

    @Override public long count() { return count; }
    @Override public int channels() { return channels; }
    @Override public int size() { return size; }
    @Override public long skipped() { return skipped; }

    @Override public Chunk read(long start, int n) throws IOException {
        if (start < 0 || n < 0) throw new IllegalArgumentException("read(" + start + ", " + n + ") out of range");
        int m = (int) Math.max(0, Math.min(n, count - start));
        int per = channels * size * size;
        float[] px = new float[Math.multiplyExact(m, per)];
        int[] labels = new int[m];
        int kept = 0;
        for (int k = 0; k < m; k++) {
            int i = Math.toIntExact(start + k);       // a Dataset indexes with ints; count <= its size
            Image img;
            try {
                img = LabeledImages.evalView(data, i, channels, size);
            } catch (IOException e) {
                if (!skipBad) throw new IOException(e.getMessage() + " (pass --skip-bad to skip unreadable images)", e);
                skipped++;
                continue;
            }
            System.arraycopy(img.pixels(), 0, px, kept * per, per);
            labels[kept++] = data.label(i);
        }
        return kept == m ? new Chunk(px, labels) : new Chunk(Arrays.copyOf(px, kept * per), Arrays.copyOf(labels, kept));
    }
}
