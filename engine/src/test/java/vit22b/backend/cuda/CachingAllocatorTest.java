package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.kernels.KernelLauncher;

/** The caching allocator on a device of fixed capacity: what a full device does to it. */
class CachingAllocatorTest {
    static final long MIB = 1L << 20;

    /** A device of {@code capacity} bytes that only allocates and frees, failing as cuMemAlloc does when full. */
    static final class SmallDevice implements DeviceRuntime {
        final long capacity;
        final Map<Long, Long> blocks = new HashMap<>();
        long next = 1L << 32;

        SmallDevice(long capacity) { this.capacity = capacity; }

        long used() { return blocks.values().stream().mapToLong(Long::longValue).sum(); }

        @Override public long allocate(long bytes) {
            if (used() + bytes > capacity) throw new CudaException("cuMemAlloc of " + bytes + " bytes", 2);
            blocks.put(next, bytes);
            next += bytes;
            return next - bytes;
        }

        @Override public void free(long address) {
            if (blocks.remove(address) == null) throw new CudaException("cuMemFree", 1);
        }

        @Override public String description() { return "a device of " + capacity + " bytes"; }
        @Override public KernelLauncher launcher() { throw new UnsupportedOperationException(); }
        @Override public DeviceStream createStream() { throw new UnsupportedOperationException(); }
        @Override public DeviceEvent createEvent() { throw new UnsupportedOperationException(); }
        @Override public MemorySegment allocateHost(long bytes) { throw new UnsupportedOperationException(); }
        @Override public void freeHost(MemorySegment host) { throw new UnsupportedOperationException(); }
        @Override public void copyToDevice(long dst, MemorySegment src, long bytes, DeviceStream s) { throw new UnsupportedOperationException(); }
        @Override public void copyToHost(MemorySegment dst, long src, long bytes, DeviceStream s) { throw new UnsupportedOperationException(); }
        @Override public void copy(long dst, long src, long bytes, DeviceStream s) { throw new UnsupportedOperationException(); }
        @Override public void fill32(long dst, int value, long count, DeviceStream s) { throw new UnsupportedOperationException(); }
        @Override public void makeCurrent() {}
        @Override public String memoryReport() { return used() + " of " + capacity + " bytes used"; }
        @Override public void close() {}
    }

    /**
     * A cached block of another size is given back to the driver before an allocation is called
     * out of memory, and the allocator says so (the backend forgets its tensor maps then).
     */
    @Test void aFullDeviceGivesBackCachedBlocksAndRetries() {
        SmallDevice d = new SmallDevice(8 * MIB);
        int[] returned = {0};
        CachingAllocator al = new CachingAllocator(d, () -> returned[0]++);
        al.allocate(6 * MIB / Float.BYTES).close();   // cached, unused
        assertEquals(0, returned[0]);
        DeviceStorage b = al.allocate(4 * MIB / Float.BYTES);
        assertEquals(4 * MIB, d.used(), "the cached 6 MiB block went back to the driver");
        assertEquals(1, returned[0], "the allocator did not say that memory went back to the driver");
        assertEquals(4 * MIB, al.bytesHeld());
        b.close();
        al.close();
        assertEquals(0, d.used());
    }

    /** When every block is in use the device is really full: the error says how much the allocator holds. */
    @Test void aReallyFullDeviceNamesWhatIsHeld() {
        SmallDevice d = new SmallDevice(8 * MIB);
        CachingAllocator al = new CachingAllocator(d);
        DeviceStorage a = al.allocate(6 * MIB / Float.BYTES);
        CudaException e = assertThrows(CudaException.class, () -> al.allocate(4 * MIB / Float.BYTES));
        assertTrue(e.getMessage().contains("CUDA_ERROR_OUT_OF_MEMORY") && e.getMessage().contains(6 * MIB + " bytes held"),
                e.getMessage());
        a.close();
        al.close();
        assertEquals(0, d.used());
    }
}
