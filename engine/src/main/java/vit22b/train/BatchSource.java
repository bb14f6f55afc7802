package vit22b.train;

import java.io.IOException;

/**
 * What the trainer needs from a data pipeline: labelled batches in a deterministic order, and
 * a position (opaque text, saved in checkpoints) from which the pipeline can be reopened so
 * that a resumed run sees the same batches an uninterrupted one would.
 */
public interface BatchSource extends AutoCloseable {

    /** Images (batch, C, S, S) in [-1, 1], flattened, and their labels. */
    record Batch(float[] images, int[] labels) {}

    /** The next batch: the training batch size, or fewer images when unreadable ones were skipped. */
    Batch next() throws IOException;

    /** Where the next batch comes from. */
    String position();

    /** Images drawn from the training stream so far (skipped unreadable ones included), for the metrics. */
    long imagesSeen();

    /** {@link #imagesSeen()} in passes over the training set (fractional). */
    double epoch();

    @Override void close();
}
