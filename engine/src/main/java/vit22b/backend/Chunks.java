package vit22b.backend;

/**
 * A transfer of {@code elements} elements of {@code elementBytes} bytes each, cut into chunks of
 * at most {@code maxBytes} bytes: how a backend streams a tensor of any size through a bounded
 * staging buffer. Offsets and counts are longs throughout, so a tensor past 2^31 bytes (or
 * elements) is cut like any other; chunk {@code i} covers elements [from(i), from(i) + length(i)).
 */
public record Chunks(long elements, int elementBytes, long maxBytes) {
    public Chunks {
        if (elements < 0 || elementBytes <= 0 || maxBytes < elementBytes)
            throw new IllegalArgumentException("chunks of " + maxBytes + " bytes over " + elements + " elements of "
                    + elementBytes + " bytes: need elements >= 0 and chunks of at least one element");
    }

    /** Elements in a full chunk. */
    public long perChunk() { return maxBytes / elementBytes; }

    public long count() { return (elements + perChunk() - 1) / perChunk(); }

    /** The first element of chunk {@code i}. */
    public long from(long i) { return i * perChunk(); }

    /** The elements in chunk {@code i} (the last may be short). */
    public long length(long i) { return Math.min(perChunk(), elements - from(i)); }
}
