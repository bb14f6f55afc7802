package vit22b.backend.cuda;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import vit22b.io.DType;
import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceRuntime;

/**
 * Device memory with a per-size free list, so a training step that allocates and frees the
 * same sizes each time calls cuMemAlloc only during its first step (and a CUDA graph capture
 * never sees an allocation). Sizes are rounded up (512 B under 1 MiB, 2 MiB above) so that
 * nearby sizes share blocks. Blocks go back to the driver when an allocation finds the device full
 * (the unused cached ones, then it retries) and in {@link #close}, after which
 * every storage still handed out refuses to be used (it would point at freed memory). All work
 * is on one stream, so a block freed and reused is ordered by that stream.
 */
public final class CachingAllocator implements AutoCloseable {
    record Block(long address, long bytes) {}

    private final DeviceRuntime device;
    /** Told when cached blocks go back to the driver (their addresses may come back as other allocations). */
    private final Runnable returned;
    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private final List<Block> all = new ArrayList<>();
    private long driverAllocations;
    private long bytesHeld;
    private long live;
    private boolean closed;

    public CachingAllocator(DeviceRuntime device) { this(device, () -> {}); }

    /** {@link #CachingAllocator(DeviceRuntime)} that runs {@code returned} whenever cached blocks go back to the driver. */
    public CachingAllocator(DeviceRuntime device, Runnable returned) {
        this.device = device;
        this.returned = returned;
    }

    static long roundUp(long bytes) {
        long g = bytes < (1L << 20) ? 512 : (2L << 20);
        return Math.max(g, (bytes + g - 1) / g * g);
    }

    /** float32 device memory of {@code floats} elements. */
    public DeviceStorage allocate(long floats) { return allocate(DType.F32, floats); }

    /** Device memory of {@code elements} of {@code dtype}. */
    public DeviceStorage allocate(DType dtype, long elements) {
        if (closed) throw new IllegalStateException("allocation from a closed CUDA backend");
        long bytes = roundUp(elements * dtype.size);
        ArrayDeque<Block> q = free.get(bytes);
        Block b = q == null ? null : q.poll();
        if (b == null) {
            long address;
            try {
                address = device.allocate(bytes);
            } catch (CudaException e) {
                // Out of memory while blocks of other sizes sit unused in the cache: give those back
                // to the driver and try once more (only then is the device really full).
                if (e.code() != OUT_OF_MEMORY || releaseCached() == 0) throw full(e);
                try {
                    address = device.allocate(bytes);
                } catch (CudaException again) {
                    throw full(again);
                }
            }
            b = new Block(address, bytes);
            all.add(b);
            driverAllocations++;
            bytesHeld += bytes;
        }
        live++;
        return new DeviceStorage(this, b, dtype, elements);
    }

    private static final int OUT_OF_MEMORY = 2;   // CUDA_ERROR_OUT_OF_MEMORY

    private CudaException full(CudaException e) {
        return new CudaException(e.getMessage() + "; " + bytesHeld + " bytes held by this allocator, all in use: "
                + "use a smaller batch or model");
    }

    /** Frees every cached (unused) block; returns the bytes given back. */
    private long releaseCached() {
        long freed = 0;
        for (ArrayDeque<Block> q : free.values())
            for (Block b : q) {
                device.free(b.address());
                all.remove(b);
                freed += b.bytes();
            }
        free.clear();
        bytesHeld -= freed;
        if (freed > 0) returned.run();
        return freed;
    }

    void release(Block b) {
        live--;
        if (!closed) free.computeIfAbsent(b.bytes(), k -> new ArrayDeque<>()).push(b);
    }

    boolean closed() { return closed; }

    /** How many times cuMemAlloc was called: constant once a step's sizes have been seen. */
    public long driverAllocations() { return driverAllocations; }

    public long bytesHeld() { return bytesHeld; }

    /** Storages handed out and not yet closed. */
    public long live() { return live; }

    /** Frees every block; storages still live become unusable (their use throws, instead of touching freed memory). */
    @Override public void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (Block b : all)
            try {
                device.free(b.address());
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        all.clear();
        free.clear();
        bytesHeld = 0;
        if (first != null) throw first;
    }
}
