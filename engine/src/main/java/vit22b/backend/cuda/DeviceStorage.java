package vit22b.backend.cuda;

import vit22b.tensor.Storage;

/**
 * float32 device memory handed out by a {@link CachingAllocator}; closing returns the block to
 * the allocator's cache (no cuMemFree until the allocator closes). Use after either close
 * fails rather than reach freed device memory.
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
        if (owner.closed()) throw new IllegalStateException("device storage used after its CUDA backend was closed");
        return block.address();
    }

    @Override public long floats() { return floats; }

    @Override public void close() {
        if (closed) return;
        closed = true;
        owner.release(block);
    }
}
