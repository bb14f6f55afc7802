package vit22b.mesh;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Completion;
import vit22b.graph.Mesh;
import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/**
 * The {@link Communicator} of a CPU device (a thread of one JVM, or a process of a multi-host
 * job), with ring algorithms over a {@link Link}: p - 1 steps, each moving 1/p of the buffer
 * to the next neighbour, which is what the simulator charges for them. Operations run one
 * after another, each on a fresh virtual thread chained to the previous one (the device's
 * communication stream), so a caller is free to compute while they travel.
 */
public final class RingCommunicator implements Communicator {
    private static final Executor STREAM = r -> Thread.ofVirtual().name("comm").start(r);

    private final Mesh mesh;
    private final int rank;
    private final Link link;
    private CompletableFuture<Void> tail = CompletableFuture.completedFuture(null);

    public RingCommunicator(Mesh mesh, int rank, Link link) {
        if (rank < 0 || rank >= mesh.devices())
            throw new IllegalArgumentException("rank " + rank + " is not in mesh " + mesh + " (ranks 0.." + (mesh.devices() - 1) + ")");
        this.mesh = mesh;
        this.rank = rank;
        this.link = link;
    }

    @Override public Mesh mesh() { return mesh; }

    @Override public int rank() { return rank; }

    /** Queues {@code op} after every operation issued before it. */
    private synchronized Completion issue(Runnable op) {
        tail = tail.thenRunAsync(op, STREAM);
        return Completion.of(tail);
    }

    @Override public Completion allGather(Axis a, Tensor out, Tensor in) {
        int p = mesh.size(a);
        requireSize("all-gather", out, in.size() * p);
        return issue(() -> allGatherNow(a, seg(out), seg(in)));
    }

    @Override public Completion reduceScatter(Axis a, Tensor out, Tensor in) {
        requireSize("reduce-scatter", in, out.size() * mesh.size(a));
        return issue(() -> reduceScatterNow(a, seg(out), seg(in)));
    }

    @Override public Completion allReduce(Axis a, Tensor t, Tensor scratch) {
        int p = mesh.size(a);
        if (t.size() % p != 0)
            throw new IllegalArgumentException("all-reduce of " + t.size() + " floats over " + p
                    + " devices: pad the buffer to a multiple of " + p);
        MemorySegment part = seg(scratch.view(0, (int) (t.size() / p))), all = seg(t);
        return issue(() -> {
            reduceScatterNow(a, part, all);
            allGatherNow(a, all, part);
        });
    }

    @Override public Completion shift(Axis a, Tensor send, Tensor recv) {
        requireSize("shift", recv, send.size());
        MemorySegment s = seg(send), r = seg(recv);
        return issue(() -> {
            sendNow(a, +1, s);
            recvNow(a, -1, r);
        });
    }

    @Override public Completion exchange(Axis a, Tensor send, Tensor fromPrev, Tensor fromNext) {
        requireSize("exchange", fromPrev, send.size());
        requireSize("exchange", fromNext, send.size());
        MemorySegment s = seg(send), p = seg(fromPrev), n = seg(fromNext);
        return issue(() -> {
            sendNow(a, +1, s);
            sendNow(a, -1, s);
            recvNow(a, -1, p);
            recvNow(a, +1, n);
        });
    }

    @Override public Completion send(Axis a, int steps, Tensor src) {
        MemorySegment s = seg(src);
        return issue(() -> sendNow(a, steps, s));
    }

    @Override public Completion recv(Axis a, int steps, Tensor dst) {
        MemorySegment d = seg(dst);
        return issue(() -> recvNow(a, steps, d));
    }

    // ---- the ring algorithms, run on the communication stream ------------------------------------

    private void allGatherNow(Axis a, MemorySegment o, MemorySegment in) {
        int p = mesh.size(a), me = index(a);
        long n = in.byteSize();
        MemorySegment.copy(in, 0, o, me * n, n);
        for (int s = 0; s < p - 1; s++) {
            sendNow(a, +1, o.asSlice(Math.floorMod(me - s, p) * n, n));
            recvNow(a, -1, o.asSlice(Math.floorMod(me - s - 1, p) * n, n));
        }
    }

    private void reduceScatterNow(Axis a, MemorySegment acc, MemorySegment i) {
        int p = mesh.size(a), me = index(a);
        long n = acc.byteSize();
        MemorySegment.copy(i, Math.floorMod(me - 1, p) * n, acc, 0, n);
        for (int s = 0; s < p - 1; s++) {
            sendNow(a, +1, acc);
            recvNow(a, -1, acc);
            addInto(acc, i.asSlice(Math.floorMod(me - s - 2, p) * n, n));
        }
    }

    private void sendNow(Axis a, int steps, MemorySegment src) { link.send(mesh.neighbour(a, rank, steps), src); }

    private void recvNow(Axis a, int steps, MemorySegment dst) { link.recv(mesh.neighbour(a, rank, steps), dst); }

    /** dst += src, element-wise (the local step of a reduction). */
    private static void addInto(MemorySegment dst, MemorySegment src) {
        long n = dst.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++)
            dst.setAtIndex(HostStorage.F32, i, dst.getAtIndex(HostStorage.F32, i) + src.getAtIndex(HostStorage.F32, i));
    }

    private static MemorySegment seg(Tensor t) { return HostStorage.segmentOf(t); }

    private static void requireSize(String what, Tensor t, long n) {
        if (t.size() != n)
            throw new IllegalArgumentException(what + ": tensor " + t + " has " + t.size() + " floats, expected " + n);
    }
}
