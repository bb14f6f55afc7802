package vit22b.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Off-heap float32 host memory, 64-byte aligned, zero-filled on allocation. */
public final class HostStorage implements Storage {
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private final Arena arena;
    private final MemorySegment segment;
    private final long floats;

    public HostStorage(long floats) {
        if (floats < 0) throw new IllegalArgumentException("negative size: " + floats);
        this.arena = Arena.ofShared();
        this.floats = floats;
        this.segment = arena.allocate(Math.max(1, floats) * Float.BYTES, 64);
    }

    public MemorySegment segment() { return segment; }

    /** The host memory of a tensor's view (offset applied); refuses a tensor that lives elsewhere. */
    public static MemorySegment segmentOf(Tensor t) {
        if (!(t.storage() instanceof HostStorage h))
            throw new IllegalArgumentException("tensor " + t + " is not in host memory");
        return h.segment.asSlice(t.offset() * Float.BYTES, t.size() * Float.BYTES);
    }

    @Override public long floats() { return floats; }

    @Override public void close() { arena.close(); }
}
