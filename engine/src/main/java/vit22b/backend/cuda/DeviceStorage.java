package vit22b.backend.cuda;

import jcuda.driver.CUdeviceptr;
import vit22b.tensor.Storage;

/**
 * float32 device memory handed out by a {@link CachingAllocator}; closing returns the block to
 * the allocator's cache (no cuMemFree until the allocator closes).
 */
public final class DeviceStorage implements Storage {
    private final CachingAllocator owner;
    private final CachingAllocator.Block block;
    private final long floats;
    private boolean closed;

    DeviceStorage(CachingAllocator owner, CachingAllocator.Block block, long floats) {
        this.owner = owner;
        this.block = block;
        this.floats = floats;
    }

    /** The device address of element 0. */
    public long address() {
        if (closed) throw new IllegalStateException("device storage used after close");
        return block.address();
    }

    /** The driver pointer, offset by {@code floatOffset} elements, for memcpy/memset calls. */
    CUdeviceptr pointer(long floatOffset) {
        if (closed) throw new IllegalStateException("device storage used after close");
        return block.pointer().withByteOffset(floatOffset * Float.BYTES);
    }

    @Override public long floats() { return floats; }

    @Override public void close() {
        if (closed) return;
        closed = true;
        owner.release(block);
    }
}
