package vit22b.eval;

import java.io.IOException;

/**
 * Evaluation examples as the model sees them (C x S x S in [-1, 1], with labels), read a batch
 * at a time: held in memory ({@link LabeledImages}) or decoded per batch from a dataset
 * ({@link StreamedImages}), so that an evaluation set need not fit in memory. Counts are longs:
 * offsets into a large set must not wrap around an int.
 */
public interface EvalImages {
    /** Examples to try (skipped unreadable ones included). */
    long count();

    int channels();

    int size();

    /** Examples [start, start + n) clipped to {@link #count()}; with skip-bad, unreadable ones are left out. */
    Chunk read(long start, int n) throws IOException;

    /** Unreadable examples left out so far. */
    long skipped();

    /** A batch of examples: labels.length x channels x size x size pixel values. */
    record Chunk(float[] pixels, int[] labels) {
        public int count() { return labels.length; }
    }
}
