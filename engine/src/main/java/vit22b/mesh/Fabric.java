package vit22b.mesh;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

import vit22b.tensor.HostStorage;

/**
 * The wires between CPU-thread devices: one FIFO per ordered pair of ranks. A send copies the
 * bytes out of the sender's memory (nothing is shared), a receive copies them into the
 * receiver's. Per pair, messages arrive in the order sent; each device must send from one
 * thread only (its communication queue), which the executor guarantees.
 */
public final class Fabric {
    private final int n;
    private final BlockingQueue<float[]>[] wires;

    @SuppressWarnings("unchecked")
    public Fabric(int devices) {
        this.n = devices;
        this.wires = new BlockingQueue[devices * devices];
        for (int i = 0; i < wires.length; i++) wires[i] = new LinkedBlockingQueue<>();
    }

    public void send(int from, int to, MemorySegment src) {
        wires[from * n + to].add(src.toArray(HostStorage.F32));
    }

    /** Blocks until the next message from {@code from} arrives, then copies it into {@code dst}. */
    public void recv(int to, int from, MemorySegment dst) {
        float[] m;
        try {
            m = wires[from * n + to].take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("device " + to + " interrupted waiting for device " + from, e);
        }
        if ((long) m.length * Float.BYTES != dst.byteSize())
            throw new IllegalStateException("device " + to + " expected " + dst.byteSize() / Float.BYTES
                    + " floats from device " + from + " but got " + m.length + ": collectives issued in different orders");
        MemorySegment.copy(m, 0, dst, HostStorage.F32, 0, m.length);
    }
}
