package vit22b.mesh.device;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import vit22b.backend.cuda.CudaBackend;
import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Completion;
import vit22b.graph.Mesh;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.tensor.Tensor;

/**
 * The {@link Communicator} of one rank of a mesh whose ranks share ONE device ({@link DeviceMesh}):
 * each rank has its own backend (its own memory and compute stream) and communication stream,
 * and a transfer is a device-to-device copy, so that the overlap of collectives with kernels
 * can be seen and measured on one GPU. On the device:
 * <ul>
 * <li>an operation is queued on the stream its caller's backend queues on
 *     ({@link CudaBackend#stream}): the {@link StreamExecutor} points it at the rank's
 *     communication stream for communication tasks (at the compute stream when overlap is off);</li>
 * <li>the sender records an event when it issues a send (its data is ready there); the
 *     receiver's stream waits on that event, then copies from the sender's tensor into its own
 *     (its stream already orders the copy after its earlier use of the buffer) and records an
 *     event after the copy, which the sender needs before it may overwrite what it sent;</li>
 * <li>reductions add the received chunk with the backend's element-wise add kernel;</li>
 * <li>{@link Completion#await} never waits for the device: it makes the calling stream wait
 *     on the events that end the operation and every operation this rank issued before it
 *     (operations complete in order): the receivers' events for what this rank sent, and,
 *     when called on another stream than the operation's, the operation's end on its stream.</li>
 * </ul>
 * The host waits only for the peers to issue their side (the {@link Mailbox}): a receive until
 * the sender has issued the send, an await until the receivers have issued their copies. Every
 * rank issues the same operations in the same order (NCCL's contract), and within an operation
 * every send is posted before any receive waits, so the ranks' host threads cannot wait on
 * each other in a cycle. Events are created per operation and closed by {@link #release}, after
 * the streams are idle.
 */
public final class DeviceCommunicator implements Communicator, AutoCloseable {
    private final Mesh mesh;
    private final int rank;
    private final CudaBackend be;
    private final DeviceRuntime device;
    private final Mailbox box;
    /** This rank's sends that no await has covered yet, in issue order, with the number of the operation that sent them. */
    private final ArrayDeque<Sent> unread = new ArrayDeque<>();
    private final List<DeviceEvent> events = new ArrayList<>();
    /** Per stream: the receive buffer of reductions (reused in stream order, so one per stream). */
    private final Map<DeviceStream, Tensor> scratch = new HashMap<>();
    /** Outgrown receive buffers: queued work may still use them, and the allocator reuses a freed block at once. */
    private final List<Tensor> retired = new ArrayList<>();
    private long issued;

    private record Sent(long op, Mailbox.Message message) {}

    DeviceCommunicator(Mesh mesh, int rank, CudaBackend be, Mailbox box) {
        if (rank < 0 || rank >= mesh.devices())
            throw new IllegalArgumentException("rank " + rank + " is not in mesh " + mesh + " (ranks 0.." + (mesh.devices() - 1) + ")");
        this.mesh = mesh;
        this.rank = rank;
        this.be = be;
        this.device = be.device();
        this.box = box;
    }

    @Override public Mesh mesh() { return mesh; }

    @Override public int rank() { return rank; }

    @Override public Completion allGather(Axis a, Tensor out, Tensor in) {
        int p = mesh.size(a), me = index(a);
        long n = in.size();
        requireSize("all-gather", out, n * p);
        int[] g = mesh.group(a, rank);
        DeviceEvent ready = mark();
        for (int q = 0; q < p; q++) if (q != me) post(g[q], in, ready);
        be.copy(out.view(me * n, (int) n), in);
        List<Mailbox.Message> got = new ArrayList<>();
        for (int s = 1; s < p; s++) {
            int q = (me + s) % p;
            got.add(receive(g[q], out.view(q * n, (int) n)));
        }
        return done(got);
    }

    @Override public Completion reduceScatter(Axis a, Tensor out, Tensor in) {
        int p = mesh.size(a), me = index(a);
        long n = out.size();
        requireSize("reduce-scatter", in, n * p);
        int[] g = mesh.group(a, rank);
        DeviceEvent ready = mark();
        for (int q = 0; q < p; q++) if (q != me) post(g[q], in.view(q * n, (int) n), ready);
        be.copy(out, in.view(me * n, (int) n));
        Tensor buf = p > 1 ? scratch(n) : null;
        List<Mailbox.Message> got = new ArrayList<>();
        for (int s = 1; s < p; s++) {
            got.add(receive(g[(me + s) % p], buf));
            be.add(out, buf);
        }
        return done(got);
    }

    @Override public Completion allReduce(Axis a, Tensor t, Tensor scratchT) {
        int p = mesh.size(a);
        if (t.size() % p != 0)
            throw new IllegalArgumentException("all-reduce of " + t.size() + " floats over " + p
                    + " devices: pad the buffer to a multiple of " + p);
        Tensor part = scratchT.view(0, (int) (t.size() / p));
        // The gather overwrites t's chunks, which the peers read in the reduce-scatter: wait for their copies first.
        reduceScatter(a, part, t).await();
        return allGather(a, t, part);
    }

    @Override public Completion shift(Axis a, Tensor send, Tensor recv) {
        requireSize("shift", recv, send.size());
        post(mesh.neighbour(a, rank, +1), send, mark());
        return done(List.of(receive(mesh.neighbour(a, rank, -1), recv)));
    }

    @Override public Completion exchange(Axis a, Tensor send, Tensor fromPrev, Tensor fromNext) {
        requireSize("exchange", fromPrev, send.size());
        requireSize("exchange", fromNext, send.size());
        DeviceEvent ready = mark();
        post(mesh.neighbour(a, rank, +1), send, ready);
        post(mesh.neighbour(a, rank, -1), send, ready);
        Mailbox.Message prev = receive(mesh.neighbour(a, rank, -1), fromPrev);
        return done(List.of(prev, receive(mesh.neighbour(a, rank, +1), fromNext)));
    }

    @Override public Completion send(Axis a, int steps, Tensor src) {
        post(mesh.neighbour(a, rank, steps), src, mark());
        return done(List.of());
    }

    @Override public Completion recv(Axis a, int steps, Tensor dst) {
        return done(List.of(receive(mesh.neighbour(a, rank, steps), dst)));
    }

    // ---- the protocol -----------------------------------------------------------------------

    /** A fresh event recorded at the current end of the caller's stream. */
    private DeviceEvent mark() { return mark(be.stream()); }

    private DeviceEvent mark(DeviceStream s) {
        DeviceEvent e = device.createEvent();
        events.add(e);
        e.record(s);
        return e;
    }

    private void post(int to, Tensor src, DeviceEvent ready) {
        Mailbox.Message m = new Mailbox.Message(src, ready, new CompletableFuture<>());
        unread.add(new Sent(issued, m));
        box.post(rank, to, m);
    }

    /** Queues the copy of the next message from {@code from} into dst on the caller's stream, after the sender's ready point. */
    private Mailbox.Message receive(int from, Tensor dst) {
        Mailbox.Message m = box.take(from, rank);
        if (m.src().size() != dst.size())
            throw new IllegalStateException("rank " + rank + " expected " + dst.size() + " floats from rank " + from
                    + " but got " + m.src().size() + ": collectives issued in different orders");
        be.stream().waitFor(m.ready());
        be.copy(dst, m.src());   // one device: the backend's device-to-device copy reads the peer's memory
        return m;
    }

    /**
     * Ends the operation: tells the senders of {@code got} when their data has been read, and
     * returns the completion of this operation and the earlier ones.
     */
    private Completion done(List<Mailbox.Message> got) {
        DeviceStream on = be.stream();
        if (!got.isEmpty()) {
            DeviceEvent read = mark(on);
            for (Mailbox.Message m : got) m.read().complete(read);
        }
        long op = issued++;
        return () -> awaitThrough(op, on);
    }

    /** The caller's stream waits for operation {@code op} (issued on {@code on}) and every earlier one; see the class comment. */
    private void awaitThrough(long op, DeviceStream on) {
        DeviceStream s = be.stream();
        if (s != on) s.waitFor(mark(on));
        while (!unread.isEmpty() && unread.peek().op() <= op) {
            Sent sent = unread.poll();
            s.waitFor(box.read(sent.message(), rank));
        }
    }

    private Tensor scratch(long n) {
        Tensor t = scratch.get(be.stream());
        if (t == null || t.size() < n) {
            if (t != null) retired.add(t);
            t = be.allocate(Math.toIntExact(n));
            scratch.put(be.stream(), t);
        }
        return t.view(0, (int) n);
    }

    /** Sends whose reads no await covered (the peers' copies are queued by now): make the caller's stream wait for them. */
    void settle() { awaitThrough(issued - 1, be.stream()); }

    /** Closes the events of the operations so far; call when every stream that waits on them is idle. */
    void release() {
        for (DeviceEvent e : events) e.close();
        events.clear();
    }

    @Override public void close() {
        release();
        for (Tensor t : scratch.values()) be.free(t);
        for (Tensor t : retired) be.free(t);
        scratch.clear();
        retired.clear();
    }

    private static void requireSize(String what, Tensor t, long n) {
        if (t.size() != n)
            throw new IllegalArgumentException(what + ": tensor " + t + " has " + t.size() + " floats, expected " + n);
    }
}
