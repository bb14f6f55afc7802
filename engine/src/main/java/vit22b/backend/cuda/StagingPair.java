package vit22b.backend.cuda;

import java.lang.foreign.MemorySegment;

import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;

/**
 * Two page-locked host buffers used in turn for host-to-device streams: while the device copies
 * out of one, the host fills the other (reading a memory-mapped file, which is where the time
 * goes), so reads and copies overlap. Each buffer is rewritten only once the copy that last read
 * it has run (its event).
 */
final class StagingPair implements AutoCloseable {
    private final DeviceRuntime device;
    private final MemorySegment[] buffers = new MemorySegment[2];
    private final DeviceEvent[] free = new DeviceEvent[2];
    private int next;

    StagingPair(DeviceRuntime device, long bytes) {
        this.device = device;
        try {
            for (int i = 0; i < 2; i++) {
                free[i] = device.createEvent();
                buffers[i] = device.allocateHost(bytes);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    long bytes() { return buffers[0].byteSize(); }

    /** The next buffer, once the copy that last read it has run. */
    MemorySegment take() {
        free[next].synchronize();
        return buffers[next];
    }

    /** The buffer from {@link #take} is read by work queued on {@code stream} up to now; the other is next. */
    void queued(DeviceStream stream) {
        free[next].record(stream);
        next ^= 1;
    }

    @Override public void close() {
        for (int i = 0; i < 2; i++) {
            if (free[i] != null) free[i].synchronize();
            if (buffers[i] != null) device.freeHost(buffers[i]);
            if (free[i] != null) free[i].close();
        }
    }
}
