package vit22b.data;

/**
 * Where a loader is in the data stream: the epoch and the position within that epoch's order of
 * the next example to load. Saved in checkpoints so a resumed run sees the same batches.
 */
public record DataPosition(int epoch, int index) {
    public static final DataPosition START = new DataPosition(0, 0);

    public DataPosition {
        if (epoch < 0 || index < 0)
            throw new IllegalArgumentException("data position must be non-negative, got epoch " + epoch + ", index " + index);
    }
}
