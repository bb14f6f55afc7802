package vit22b.mesh;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

import vit22b.tensor.HostStorage;

/**
 * The wires between CPU-thread devices of one JVM: one FIFO per ordered pair of ranks. A send
 * copies the bytes out of the sender's memory (nothing is shared), a receive copies them into
 * the receiver's. {@link #abort} wakes every waiting receiver with the failure, so a failed
 * device does not leave its peers blocked.
 */
public final class Fabric {
    /** Put on every wire by abort: a receiver that takes it fails. */
    private static final float[] ABORTED = new float[0];

    private final int n;
    private final BlockingQueue<float[]>[] wires;
    private volatile String abortReason;

    @SuppressWarnings("unchecked")
    public Fabric(int devices) {
        this.n = devices;
        this.wires = new BlockingQueue[devices * devices];
        for (int i = 0; i < wires.length; i++) wires[i] = new LinkedBlockingQueue<>();
    }

    /** Device {@code rank}'s end of the wires. */
    public Link link(int rank) {
        return new Link() {
            @Override public void send(int to, MemorySegment src) { wires[rank * n + to].add(src.toArray(HostStorage.F32)); }

            @Override public void recv(int from, MemorySegment dst) { take(rank, from, dst); }
        };
    }

    /** Fails every pending and later receive with {@code reason}. */
    public void abort(String reason) {
        abortReason = reason;
        for (BlockingQueue<float[]> w : wires) w.add(ABORTED);
    }

    private void take(int to, int from, MemorySegment dst) {
        float[] m;
        try {
            m = wires[from * n + to].take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("device " + to + " interrupted waiting for device " + from, e);
        }
        if (m == ABORTED) {
            wires[from * n + to].add(ABORTED);
            throw new IllegalStateException("device " + to + " stopped waiting for device " + from + ": " + abortReason);
        }
        if ((long) m.length * Float.BYTES != dst.byteSize())
            throw new IllegalStateException("device " + to + " expected " + dst.byteSize() / Float.BYTES
                    + " floats from device " + from + " but got " + m.length + ": collectives issued in different orders");
        MemorySegment.copy(m, 0, dst, HostStorage.F32, 0, m.length);
    }
}
