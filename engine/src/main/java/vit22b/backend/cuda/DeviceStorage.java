package vit22b.backend.cuda;

import vit22b.io.DType;
import vit22b.tensor.Storage;

/**
 * Device memory of F32 or BF16 elements handed out by a {@link CachingAllocator}; closing
 * returns the block to the allocator's cache (no cuMemFree until the allocator closes). Use
 * after either close fails rather than reach freed device memory.
 */
public final class DeviceStorage implements Storage {
    private final CachingAllocator owner;
    private final CachingAllocator.Block block;
    private final DType dtype;
    private final long elements;
    private boolean closed;

    DeviceStorage(CachingAllocator owner, CachingAllocator.Block block, DType dtype, long elements) {
        this.owner = owner;
        this.block = block;
        this.dtype = dtype;
        this.elements = elements;
    }

    /** The device address of element 0. */
    public long address() {
        if (closed) throw new IllegalStateException("device storage used after close");
        if (owner.closed()) throw new IllegalStateException("device storage used after its CUDA backend was closed");
        return block.address();
    }

    @Override public long elements() { return elements; }

    @Override public DType dtype() { return dtype; }

    @Override public void close() {
        if (closed) return;
        closed = true;
        owner.release(block);
    }
}
