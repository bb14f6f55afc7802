package vit22b.train;

import java.io.IOException;

import vit22b.data.Augmentation;
import vit22b.data.BatchLoader;
import vit22b.data.DataPosition;
import vit22b.data.Dataset;

/** The training stream of a dataset: an endless, shuffled, augmented {@link BatchLoader}. */
public final class LoaderBatches implements BatchSource {
    private final BatchLoader loader;
    private final int size;

    private LoaderBatches(BatchLoader loader, int size) { this.loader = loader; this.size = size; }

    /**
     * Opens the stream at {@code start} (a {@link #position()} saved in a checkpoint; null: the
     * beginning). {@code workers} null: the loader's default (cores - 1).
     */
    public static LoaderBatches open(Dataset data, Augmentation aug, int batch, long seed, Integer workers,
                                     boolean skipBad, String start) {
        BatchLoader.Options o = BatchLoader.Options.training(batch, seed).withSkipBad(skipBad)
                .withStart(start == null ? DataPosition.START : parse(start));
        if (workers != null) o = o.withWorkers(workers, Math.max(2, 2 * workers));
        return new LoaderBatches(new BatchLoader(data, aug, o), data.size());
    }

    static DataPosition parse(String s) {
        String[] p = s.split(":");
        try {
            if (p.length == 2) return new DataPosition(Integer.parseInt(p[0]), Integer.parseInt(p[1]));
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("data position '" + s + "' is not epoch:index; the checkpoint is damaged");
    }

    @Override public Batch next() throws IOException {
        vit22b.data.Batch b = loader.next();
        int per = b.images().length / Math.max(1, b.labels().length);
        float[] images = b.images().length == b.count() * per ? b.images()
                : java.util.Arrays.copyOf(b.images(), b.count() * per);
        return new Batch(images, java.util.Arrays.copyOf(b.labels(), b.count()));
    }

    @Override public String position() {
        DataPosition p = loader.position();
        return p.epoch() + ":" + p.index();
    }

    @Override public long imagesSeen() {
        DataPosition p = loader.position();
        return (long) p.epoch() * size + p.index();
    }

    @Override public double epoch() { return (double) imagesSeen() / size; }

    /** Unreadable images skipped so far (with --skip-bad). */
    public long skipped() { return loader.skipped(); }

    @Override public void close() { loader.close(); }
}
