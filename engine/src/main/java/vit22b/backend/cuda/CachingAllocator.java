package vit22b.backend.cuda;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import jcuda.driver.JCudaDriver;
import vit22b.kernels.Cuda;
import vit22b.kernels.CudaException;

/**
 * Device memory with a per-size free list, so a training step that allocates and frees the
 * same sizes each time calls cuMemAlloc only during its first step (and a CUDA graph capture
 * never sees an allocation). Sizes are rounded up (512 B under 1 MiB, 2 MiB above) so that
 * nearby sizes share blocks. Blocks go back to the driver only in {@link #close}. All work is
 * on one stream, so a block freed and reused is ordered by that stream.
 */
public final class CachingAllocator implements AutoCloseable {
    record Block(DevicePointer pointer, long bytes) {
        long address() { return pointer.address(); }
    }

    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private final List<Block> all = new ArrayList<>();
    private long driverAllocations;
    private long bytesHeld;

    static long roundUp(long bytes) {
        long g = bytes < (1L << 20) ? 512 : (2L << 20);
        return Math.max(g, (bytes + g - 1) / g * g);
    }

    public DeviceStorage allocate(long floats) {
        long bytes = roundUp(floats * Float.BYTES);
        ArrayDeque<Block> q = free.get(bytes);
        Block b = q == null ? null : q.poll();
        if (b == null) {
            DevicePointer p = new DevicePointer();
            int rc = JCudaDriver.cuMemAlloc(p, bytes);
            if (rc != 0) {
                long[] fr = new long[1], tot = new long[1];
                JCudaDriver.cuMemGetInfo(fr, tot);
                throw new CudaException("cuMemAlloc of " + bytes + " bytes (" + bytesHeld + " held by this allocator, "
                        + fr[0] + " free of " + tot[0] + " on the device); use a smaller batch or model", rc);
            }
            b = new Block(p, bytes);
            all.add(b);
            driverAllocations++;
            bytesHeld += bytes;
        }
        return new DeviceStorage(this, b, floats);
    }

    void release(Block b) {
        free.computeIfAbsent(b.bytes(), k -> new ArrayDeque<>()).push(b);
    }

    /** How many times cuMemAlloc was called: constant once a step's sizes have been seen. */
    public long driverAllocations() { return driverAllocations; }

    public long bytesHeld() { return bytesHeld; }

    @Override public void close() {
        for (Block b : all) Cuda.check(JCudaDriver.cuMemFree(b.pointer()), "cuMemFree");
        all.clear();
        free.clear();
        bytesHeld = 0;
    }
}
