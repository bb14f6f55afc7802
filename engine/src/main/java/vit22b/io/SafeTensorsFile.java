package vit22b.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Set;

import vit22b.tensor.Bf16;

/**
 * An open, memory-mapped safetensors file whose header has been validated (see
 * {@link SafeTensors#open}). Tensors are read as float32 whatever their stored type, or as
 * bf16 bits ({@link #bf16}).
 * Closing unmaps the file.
 */
public final class SafeTensorsFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, SafeTensors.Entry> entries;
    private final Map<String, String> metadata;

    SafeTensorsFile(Path path, Arena arena, MemorySegment data, Map<String, SafeTensors.Entry> entries,
                    Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.entries = Collections.unmodifiableMap(entries);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    public Path path() { return path; }

    /** Tensor names in header order. */
    public Set<String> names() { return entries.keySet(); }

    public boolean has(String name) { return entries.containsKey(name); }

    /** The {@code __metadata__} map (empty when the file has none). */
    public Map<String, String> metadata() { return metadata; }

    public SafeTensors.Entry entry(String name) {
        SafeTensors.Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException(path + ": no tensor named '" + name + "'");
        return e;
    }

    public int[] shape(String name) { return entry(name).shape(); }

    public DType dtype(String name) { return entry(name).dtype(); }

    /** The tensor converted to float32 (for tensors of fewer than 2^31 elements). */
    public float[] floats(String name) throws IOException {
        SafeTensors.Entry e = entry(name);
        if (e.elements() > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has " + e.elements()
                    + " elements, too many for a Java array; use read(name, segment)");
        float[] out = new float[(int) e.elements()];
        read(name, MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Converts the tensor to float32 (native order) into {@code dst}, which must hold exactly its
     * elements. The file is memory-mapped: if another process cuts it short meanwhile, the page
     * fault reaches Java as an InternalError, reported here as the I/O error it is.
     */
    public void read(String name, MemorySegment dst) throws IOException {
        SafeTensors.Entry e = entry(name);
        if (dst.byteSize() != e.elements() * Float.BYTES)
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has " + e.elements()
                    + " elements; destination holds " + dst.byteSize() / Float.BYTES + " floats");
        read(name, 0, dst);
    }

    /**
     * Converts elements [from, from + n) of the tensor to float32 (native order) into {@code dst}
     * of n floats: a piece of a tensor, for streaming one through bounded staging.
     */
    public void read(String name, long from, MemorySegment dst) throws IOException {
        SafeTensors.Entry e = entry(name);
        long n = dst.byteSize() / Float.BYTES, size = e.dtype().size;
        if (from < 0 || from + n > e.elements())
            throw new IllegalArgumentException(path + ": elements [" + from + ", " + (from + n) + ") lie outside tensor '"
                    + name + "' of " + e.elements());
        try {
            e.dtype().toFloats(data.asSlice(e.begin() + from * size, n * size), dst, n);
        } catch (InternalError fault) {
            throw faulted(fault);
        }
    }

    /**
     * Elements [from, from + n) of the tensor as the file stores them (its {@link #dtype},
     * little-endian): a slice of the mapping, nothing copied. Whoever reads it turns an
     * InternalError (the file cut short meanwhile) into {@link #faulted}'s IOException.
     */
    public MemorySegment bytes(String name, long from, long n) {
        SafeTensors.Entry e = entry(name);
        if (from < 0 || n < 0 || from + n > e.elements())
            throw new IllegalArgumentException(path + ": elements [" + from + ", " + (from + n) + ") lie outside tensor '"
                    + name + "' of " + e.elements());
        long size = e.dtype().size;
        return data.asSlice(e.begin() + from * size, n * size);
    }

    /** The I/O error a page fault in this mapped file is: the file changed or was cut short while being read. */
    public IOException faulted(InternalError fault) {
        return new IOException(path + ": the file changed or was cut short while being read (" + fault.getMessage()
                + "); do not modify a model file while it is in use, and check the disk", fault);
    }

    /**
     * The tensor as bf16 bits ({@link vit22b.tensor.Bf16}): a BF16 tensor as stored, any other
     * type converted to float32 and rounded to nearest even.
     */
    public short[] bf16(String name) throws IOException {
        SafeTensors.Entry e = entry(name);
        if (e.dtype() != DType.BF16) {
            float[] f = floats(name);
            short[] out = new short[f.length];
            for (int i = 0; i < f.length; i++) out[i] = Bf16.fromFloat(f[i]);
            return out;
        }
        if (e.elements() > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has " + e.elements()
                    + " elements, too many for a Java array");
        try {
            return data.asSlice(e.begin(), e.end() - e.begin())
                    .toArray(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
        } catch (InternalError fault) {
            throw faulted(fault);
        }
    }

    @Override public void close() { arena.close(); }
}
