package vit22b.train;

import java.io.IOException;

/**
 * What the trainer needs from a data pipeline: labelled batches in a deterministic order, and
 * the position (batches handed out since the start of training) that a checkpoint saves so
 * that a resumed run sees the same batches an uninterrupted one would.
 */
public interface BatchSource extends AutoCloseable {

    /** Images (batch, C, S, S) in [-1, 1], flattened, and their labels. */
    record Batch(float[] images, int[] labels) {}

    /** The next batch (always of the training batch size). */
    Batch next() throws IOException;

    /** Batches handed out so far, counted from the start of training. */
    long position();

    @Override void close();
}
