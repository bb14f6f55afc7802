package vit22b.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import vit22b.io.DType;

/** Off-heap host memory of F32 or BF16 elements, 64-byte aligned, zero-filled on allocation. */
public final class HostStorage implements Storage {
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    public static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT;

    private final Arena arena;
    private final MemorySegment segment;
    private final DType dtype;
    private final long elements;

    /** float32 storage of {@code floats} elements. */
    public HostStorage(long floats) { this(DType.F32, floats); }

    public HostStorage(DType dtype, long elements) {
        if (elements < 0) throw new IllegalArgumentException("negative size: " + elements);
        Tensor.requireStorable(dtype);
        this.arena = Arena.ofShared();
        this.dtype = dtype;
        this.elements = elements;
        this.segment = arena.allocate(Math.max(1, elements) * dtype.size, 64);
    }

    public MemorySegment segment() { return segment; }

    /**
     * The host memory of a float32 tensor's view (offset applied): what the CPU ops compute on.
     * Refuses a tensor that lives elsewhere or holds another element type.
     */
    public static MemorySegment segmentOf(Tensor t) {
        if (t.dtype() != DType.F32)
            throw new IllegalArgumentException("tensor " + t + " holds " + t.dtype()
                    + "; the CPU ops compute on F32 tensors: cast it to F32 first");
        return bytesOf(t);
    }

    /** The host memory of a tensor's view of any element type (offset applied). */
    public static MemorySegment bytesOf(Tensor t) {
        if (!(t.storage() instanceof HostStorage h))
            throw new IllegalArgumentException("tensor " + t + " is not in host memory");
        return h.segment.asSlice(t.offset() * h.dtype.size, t.size() * h.dtype.size);
    }

    @Override public long elements() { return elements; }

    @Override public DType dtype() { return dtype; }

    @Override public void close() { arena.close(); }

    /**
     * Host memory the kernel says is available now (Linux: MemAvailable of /proc/meminfo), or
     * Long.MAX_VALUE where it cannot tell. Zero-filling an allocation touches every page, so an
     * allocation past this is killed by the kernel rather than refused: callers allocating very
     * large buffers check it first.
     */
    public static long availableBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/meminfo")))
                if (line.startsWith("MemAvailable:"))
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux, or an unexpected format: no figure
        }
        return Long.MAX_VALUE;
    }
}
