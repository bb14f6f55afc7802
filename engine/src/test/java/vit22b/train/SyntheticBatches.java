package vit22b.train;

import java.util.SplittableRandom;

import vit22b.eval.LabeledImages;

/**
 * Test data: class c is a bright c-th horizontal band plus noise. Batch p depends only on
 * (seed, p), so a source opened at a position continues exactly. {@code nanAt} poisons a batch.
 */
final class SyntheticBatches implements BatchSource {
    private final int batch, channels, size, classes;
    private final long seed, nanAt;
    private long position;

    SyntheticBatches(int batch, int channels, int size, int classes, long seed, long position, long nanAt) {
        this.batch = batch;
        this.channels = channels;
        this.size = size;
        this.classes = classes;
        this.seed = seed;
        this.position = position;
        this.nanAt = nanAt;
    }

    @Override public long imagesSeen() { return position * batch; }

    /** An endless synthetic stream has no passes: always epoch 0. */
    @Override public double epoch() { return 0; }

    @Override public Batch next() {
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + position);
        int[] labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = r.nextInt(classes);
        float[] images = images(labels, r);
        if (position == nanAt) images[5] = Float.NaN;
        position++;
        return new Batch(images, labels);
    }

    private float[] images(int[] labels, SplittableRandom r) {
        int per = channels * size * size;
        float[] x = new float[labels.length * per];
        for (int i = 0; i < labels.length; i++)
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < size; y++)
                    for (int col = 0; col < size; col++) {
                        boolean band = y * classes / size == labels[i];
                        x[i * per + (c * size + y) * size + col] = (float) ((band ? 0.8 : -0.5) + 0.3 * (r.nextDouble() - 0.5));
                    }
        return x;
    }

    /** A fixed evaluation set from another stream. */
    LabeledImages evalSet(int n) {
        SplittableRandom r = new SplittableRandom(seed + 77);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = i % classes;
        return new LabeledImages(images(labels, r), labels, channels, size);
    }

    @Override public String position() { return Long.toString(position); }

    @Override public void close() {}
}
