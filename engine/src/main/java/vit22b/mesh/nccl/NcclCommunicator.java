package vit22b.mesh.nccl;

import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventQuery;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;
import static org.bytedeco.cuda.global.cudart.cudaSuccess;
import static org.bytedeco.cuda.global.nccl.ncclAllGather;
import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclBfloat16;
import static org.bytedeco.cuda.global.nccl.ncclCommAbort;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.ncclCommGetAsyncError;
import static org.bytedeco.cuda.global.nccl.ncclCommInitRank;
import static org.bytedeco.cuda.global.nccl.ncclFloat16;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclFloat64;
import static org.bytedeco.cuda.global.nccl.ncclGetErrorString;
import static org.bytedeco.cuda.global.nccl.ncclGroupEnd;
import static org.bytedeco.cuda.global.nccl.ncclGroupStart;
import static org.bytedeco.cuda.global.nccl.ncclInProgress;
import static org.bytedeco.cuda.global.nccl.ncclRecv;
import static org.bytedeco.cuda.global.nccl.ncclReduceScatter;
import static org.bytedeco.cuda.global.nccl.ncclSend;
import static org.bytedeco.cuda.global.nccl.ncclSuccess;
import static org.bytedeco.cuda.global.nccl.ncclSum;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.DeviceStorage;
import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Completion;
import vit22b.graph.Mesh;
import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceStream;
import vit22b.tensor.Tensor;

/**
 * One GPU rank's {@link Communicator} over NCCL: one process per GPU, a communicator for this
 * rank's data group and one for its model group (ncclCommInitRank from rank 0's unique ids;
 * NCCL rank = position on the axis, so chunk c of a gathered or scattered buffer belongs to
 * position c as everywhere in the mesh). Every operation runs on this rank's own communication
 * stream, after the work the caller had queued on its backend's current stream when it issued
 * the operation (an event the communication stream waits for), so transfers overlap the
 * kernels queued after them. Each operation's {@link GpuCompletion} is an event on the
 * communication stream: the host can wait for it ({@link Completion#await}: what the CPU-thread
 * executor needs, whose compute thread keeps queueing kernels meanwhile) or a stream can
 * ({@link GpuCompletion#before}: a stream executor's way, which blocks no host thread).
 *
 * <p>An NCCL send waits for its receive, so a rank's sends and receives must reach NCCL in one
 * group: {@link #send} and {@link #recv} are held back and issued together, as one
 * ncclGroupStart/End, when one of them is waited for or the next other operation is issued
 * (the ring code sends, then receives, then waits, as on the CPU links). shift and exchange are
 * one group each. A host wait that sees NCCL's asynchronous error, or no progress within the
 * timeout (a peer died or hangs), aborts both communicators and fails naming the operation.
 */
public final class NcclCommunicator implements Communicator, AutoCloseable {
    private final Mesh mesh;
    private final int rank;
    private final CudaBackend be;
    private final DeviceStream commStream;
    private final CUstream_st comm;
    private final ncclComm[] comms = new ncclComm[Axis.values().length];
    private final long timeoutNanos;
    private final List<P2p> held = new ArrayList<>();          // sends and receives not yet given to NCCL
    private final ArrayDeque<GpuCompletion> inFlight = new ArrayDeque<>();   // in communication-stream order
    private long issued;
    private volatile String aborted;
    private boolean closed;

    /** A send or receive held back until its group is issued. */
    private record P2p(boolean send, Axis axis, int peer, Tensor t, CUevent_st ready, GpuCompletion done) {}

    /**
     * Joins the two communicators of {@code rank} (blocking until every rank of both groups has
     * joined) with the ids of {@code payload} ({@link NcclIds}); collectives run on
     * {@code be}'s GPU, whose compute stream orders them.
     */
    public NcclCommunicator(Mesh mesh, int rank, CudaBackend be, byte[] payload, Duration timeout) {
        if (rank < 0 || rank >= mesh.devices())
            throw new IllegalArgumentException("rank " + rank + " is not in mesh " + mesh + " (ranks 0.." + (mesh.devices() - 1) + ")");
        this.mesh = mesh;
        this.rank = rank;
        this.be = be;
        this.timeoutNanos = timeout.toNanos();
        byte[][] ids = new byte[comms.length][];
        for (Axis a : Axis.values()) ids[a.ordinal()] = NcclIds.of(payload, mesh, a, rank);   // refuses a wrong payload first
        be.makeCurrent();
        this.commStream = be.device().createStream();
        this.comm = new CUstream_st(Nccl.at(commStream.raw()));
        try {
            // Every rank joins its data group first, then its model group: the groups of one axis
            // are disjoint, so no rank waits in one group for a rank that waits in another.
            for (Axis a : Axis.values()) {
                try (ncclUniqueId id = Nccl.id(ids[a.ordinal()]); PointerPointer<ncclComm> h = new PointerPointer<>(1)) {
                    Nccl.check(ncclCommInitRank(h, mesh.size(a), id, index(a)), "ncclCommInitRank for rank " + rank + "'s "
                            + a.name().toLowerCase() + " group " + java.util.Arrays.toString(mesh.group(a, rank)));
                    comms[a.ordinal()] = new ncclComm(h.get(0));
                }
            }
        } catch (RuntimeException | LinkageError e) {
            for (ncclComm c : comms) if (c != null) ncclCommDestroy(c);
            commStream.close();
            throw e;
        }
    }

    @Override public Mesh mesh() { return mesh; }

    @Override public int rank() { return rank; }

    // ---- the operations ---------------------------------------------------------------------

    @Override public Completion allGather(Axis a, Tensor out, Tensor in) {
        requireSize("all-gather", out, in.size() * mesh.size(a));
        return issue("all-gather", a, c -> Nccl.check(ncclAllGather(ptr(in), ptr(out), in.size(), type(in, out), c, comm),
                "ncclAllGather"));
    }

    @Override public Completion reduceScatter(Axis a, Tensor out, Tensor in) {
        requireSize("reduce-scatter", in, out.size() * mesh.size(a));
        return issue("reduce-scatter", a, c -> Nccl.check(ncclReduceScatter(ptr(in), ptr(out), out.size(), type(in, out), ncclSum,
                c, comm), "ncclReduceScatter"));
    }

    /** In place; NCCL needs neither the scratch nor a size divisible by the group. */
    @Override public Completion allReduce(Axis a, Tensor t, Tensor scratch) {
        return issue("all-reduce", a, c -> Nccl.check(ncclAllReduce(ptr(t), ptr(t), t.size(), type(t, t), ncclSum, c, comm),
                "ncclAllReduce"));
    }

    @Override public Completion shift(Axis a, Tensor send, Tensor recv) {
        requireSize("shift", recv, send.size());
        if (mesh.size(a) == 1) return issue("shift", a, c -> copy(recv, send));   // the ring is this device alone
        return issue("shift", a, c -> group("shift", () -> {
            sendTo(c, peer(a, +1), send);
            recvFrom(c, peer(a, -1), recv);
        }));
    }

    /**
     * With a ring of 2 both neighbours are one rank; NCCL matches a pair's messages in the order
     * issued and both carry the same tensor, so the order cannot mix them up.
     */
    @Override public Completion exchange(Axis a, Tensor send, Tensor fromPrev, Tensor fromNext) {
        requireSize("exchange", fromPrev, send.size());
        requireSize("exchange", fromNext, send.size());
        if (mesh.size(a) == 1) return issue("exchange", a, c -> {
            copy(fromPrev, send);
            copy(fromNext, send);
        });
        return issue("exchange", a, c -> group("exchange", () -> {
            sendTo(c, peer(a, +1), send);
            sendTo(c, peer(a, -1), send);
            recvFrom(c, peer(a, -1), fromPrev);
            recvFrom(c, peer(a, +1), fromNext);
        }));
    }

    @Override public Completion send(Axis a, int steps, Tensor src) { return hold(true, a, steps, src); }

    @Override public Completion recv(Axis a, int steps, Tensor dst) { return hold(false, a, steps, dst); }

    /**
     * Stops every NCCL operation of this rank (ncclCommAbort on both communicators): what a
     * failing rank does so that its own waits end; the peers' NCCL then reports an error or their
     * watchdog times out. Idempotent.
     */
    public void abort(String why) {
        synchronized (comms) {
            if (aborted != null) return;
            aborted = why;
            for (ncclComm c : comms) ncclCommAbort(c);
        }
    }

    /**
     * Issues what is held, waits (with the watchdog) for the communication stream, then releases
     * the communicators; after an abort only releases what is left.
     */
    @Override public void close() {
        RuntimeException first = null;
        GpuCompletion last = null;
        synchronized (this) {
            if (closed) return;
            try {
                if (aborted == null) {
                    flushHeld();
                    last = inFlight.peekLast();
                }
            } catch (RuntimeException e) {
                first = e;
            } finally {
                closed = true;
            }
        }
        try {
            if (last != null && first == null) last.await();
        } catch (RuntimeException e) {
            first = e;
        }
        be.makeCurrent();
        if (aborted == null)
            for (ncclComm c : comms) {
                int rc = ncclCommDestroy(c);
                if (rc != ncclSuccess && first == null) first = new CudaException("ncclCommDestroy failed: NCCL error " + rc);
            }
        List<GpuCompletion> left;
        synchronized (this) {
            left = new ArrayList<>(inFlight);
            inFlight.clear();
        }
        for (GpuCompletion g : left) g.retire();
        commStream.close();
        if (first != null) throw first;
    }

    // ---- issuing ----------------------------------------------------------------------------

    /** NCCL calls of one operation on the communicator of its axis. */
    private interface Calls { void run(ncclComm c); }

    /**
     * Queues one operation: held sends and receives first (they were issued earlier), then the
     * communication stream waits for the caller's work so far, runs {@code calls} and records
     * the completion.
     */
    private synchronized GpuCompletion issue(String what, Axis a, Calls calls) {
        flushHeld();
        GpuCompletion done = new GpuCompletion(what + " on the " + a.name().toLowerCase() + " axis", a);
        CUevent_st ready = callerPoint();
        commWaitsFor(ready);
        calls.run(comms[a.ordinal()]);
        finish(List.of(done));
        return done;
    }

    private synchronized GpuCompletion hold(boolean send, Axis a, int steps, Tensor t) {
        ptr(t);   // refuses a host tensor now, not when the group is issued
        requireOpen();
        String what = (send ? "send to " : "receive from ") + (steps > 0 ? "+" : "") + steps + " on the "
                + a.name().toLowerCase() + " axis";
        GpuCompletion done = new GpuCompletion(what, a);
        held.add(new P2p(send, a, peer(a, steps), t, callerPoint(), done));
        return done;
    }

    /** Gives the held sends and receives to NCCL as one group. */
    private void flushHeld() {
        if (held.isEmpty()) return;
        List<P2p> ops = List.copyOf(held);
        held.clear();
        requireOpen();
        for (P2p p : ops) commWaitsFor(p.ready());
        group("send/recv", () -> {
            for (P2p p : ops) {
                ncclComm c = comms[p.axis().ordinal()];
                if (p.send()) sendTo(c, p.peer(), p.t());
                else recvFrom(c, p.peer(), p.t());
            }
        });
        finish(ops.stream().map(P2p::done).toList());
    }

    /**
     * An event after everything the caller has queued so far on the backend's current stream
     * (its compute stream; the task's stream under an executor that points the backend at one).
     */
    private CUevent_st callerPoint() {
        requireOpen();
        be.makeCurrent();
        CUevent_st ready = new CUevent_st();
        cuda(cudaEventCreateWithFlags(ready, cudaEventDisableTiming), "cudaEventCreateWithFlags");
        try {
            cuda(cudaEventRecord(ready, new CUstream_st(Nccl.at(be.stream().raw()))), "cudaEventRecord on the caller's stream");
        } catch (RuntimeException e) {
            cudaEventDestroy(ready);
            throw e;
        }
        return ready;
    }

    /** The communication stream waits for {@code ready}, which is then released (CUDA frees it once the wait is satisfied). */
    private void commWaitsFor(CUevent_st ready) {
        try {
            cuda(cudaStreamWaitEvent(comm, ready, 0), "cudaStreamWaitEvent");
        } finally {
            cudaEventDestroy(ready);
        }
    }

    /** Records each of {@code done}'s event after the operation on the communication stream. */
    private void finish(List<GpuCompletion> done) {
        long seq = ++issued;
        for (GpuCompletion g : done) {
            CUevent_st ev = new CUevent_st();
            cuda(cudaEventCreateWithFlags(ev, cudaEventDisableTiming), "cudaEventCreateWithFlags");
            cuda(cudaEventRecord(ev, comm), "cudaEventRecord on the communication stream");
            g.issued(seq, ev);
            inFlight.add(g);
        }
    }

    private static void group(String what, Runnable calls) {
        Nccl.check(ncclGroupStart(), "ncclGroupStart (" + what + ")");
        try {
            calls.run();
        } finally {
            Nccl.check(ncclGroupEnd(), "ncclGroupEnd (" + what + ")");
        }
    }

    private void sendTo(ncclComm c, int peer, Tensor t) {
        Nccl.check(ncclSend(ptr(t), t.size(), type(t, t), peer, c, comm), "ncclSend from rank " + rank);
    }

    private void recvFrom(ncclComm c, int peer, Tensor t) {
        Nccl.check(ncclRecv(ptr(t), t.size(), type(t, t), peer, c, comm), "ncclRecv on rank " + rank);
    }

    private void copy(Tensor dst, Tensor src) {
        type(dst, src);
        be.device().copy(address(dst), address(src), src.bytes(), commStream);
    }

    /** The NCCL rank (position on a's ring) {@code steps} positions from this one. */
    private int peer(Axis a, int steps) { return Math.floorMod(index(a) + steps, mesh.size(a)); }

    private void requireOpen() {
        if (aborted != null) throw new IllegalStateException("rank " + rank + "'s NCCL communicators were aborted: " + aborted);
        if (closed) throw new IllegalStateException("rank " + rank + "'s NCCL communicator is closed");
    }

    // ---- waiting ----------------------------------------------------------------------------

    /** Retires every operation up to {@code seq}: the stream runs them in order, so they are done. */
    private void retireThrough(long seq) {
        List<GpuCompletion> done = new ArrayList<>();
        synchronized (this) {
            while (!inFlight.isEmpty() && inFlight.peekFirst().seq <= seq) done.add(inFlight.pollFirst());
        }
        for (GpuCompletion g : done) g.retire();
    }

    /** NCCL's asynchronous error on either communicator (a peer failed, a network error), or null. */
    private String asyncError() {
        int[] e = new int[1];
        for (Axis a : Axis.values()) {
            int rc = ncclCommGetAsyncError(comms[a.ordinal()], e);
            if (rc != ncclSuccess) return "ncclCommGetAsyncError failed with NCCL error " + rc;
            if (e[0] != ncclSuccess && e[0] != ncclInProgress)
                return "NCCL reports error " + e[0] + " (" + ncclGetErrorString(e[0]).getString() + ") on the "
                        + a.name().toLowerCase() + " group " + java.util.Arrays.toString(mesh.group(a, rank));
        }
        return null;
    }

    /**
     * One operation's completion: an event on the communication stream, recorded when the
     * operation reaches NCCL (a held send or receive has none until its group is issued).
     */
    public final class GpuCompletion implements Completion {
        private final String what;
        private final Axis axis;
        private volatile CUevent_st event;   // null while held, and once retired
        private boolean finished;
        private long seq = Long.MAX_VALUE;

        private GpuCompletion(String what, Axis axis) {
            this.what = what;
            this.axis = axis;
        }

        private synchronized void issued(long seq, CUevent_st ev) {
            this.seq = seq;
            this.event = ev;
        }

        /** Makes work queued on {@code stream} from now on wait for this operation, without blocking the host. */
        public void before(DeviceStream stream) {
            issueIfHeld();
            synchronized (this) {
                if (finished) return;
                requireIssued();
                be.makeCurrent();
                cuda(cudaStreamWaitEvent(new CUstream_st(Nccl.at(stream.raw())), event, 0), "cudaStreamWaitEvent");
            }
        }

        /**
         * Blocks until the operation has run; fails (after aborting this rank's communicators)
         * when NCCL reports an error or nothing completes within the timeout.
         */
        @Override public void await() {
            issueIfHeld();
            long s;
            synchronized (this) {
                if (!finished) {
                    requireIssued();
                    be.makeCurrent();
                    long deadline = System.nanoTime() + timeoutNanos;
                    for (int spins = 0; ; spins++) {
                        int rc = cudaEventQuery(event);
                        if (rc == cudaSuccess) break;
                        if (rc != cudaErrorNotReady) cuda(rc, "waiting for the " + what);
                        if (aborted != null) throw new IllegalStateException("rank " + rank + ": the " + what
                                + " was cut short: " + aborted);
                        String err = (spins & 63) == 0 ? asyncError() : null;
                        if (err == null && System.nanoTime() > deadline)
                            err = "no progress within " + timeoutNanos / 1_000_000_000 + " s: a rank of the "
                                    + axis.name().toLowerCase() + " group " + java.util.Arrays.toString(mesh.group(axis, rank))
                                    + " is stuck or died (see its log); raise --timeout if a step is legitimately that slow";
                        if (err != null) {
                            String why = "rank " + rank + ": NCCL " + what + " failed: " + err;
                            abort(why);
                            throw new IllegalStateException(why);
                        }
                        if (spins < 1000) Thread.onSpinWait();
                        else LockSupport.parkNanos(50_000);
                    }
                    finished = true;
                }
                s = seq;
            }
            retireThrough(s);
        }

        /** A held operation whose group failed to reach NCCL has no event: say so instead of waiting on nothing. */
        private void requireIssued() {
            if (event == null)
                throw new IllegalStateException("rank " + rank + ": the " + what + " never reached NCCL"
                        + (aborted != null ? ": " + aborted : " (issuing its group failed earlier)"));
        }

        private void issueIfHeld() {
            synchronized (NcclCommunicator.this) {
                if (event == null && !isFinished()) flushHeld();
            }
        }

        private synchronized boolean isFinished() { return finished; }

        /** Done (or dropped at close): releases the event. */
        private synchronized void retire() {
            finished = true;
            if (event != null) cudaEventDestroy(event);
            event = null;
        }
    }

    // ---- tensors ------------------------------------------------------------------------------

    private static long address(Tensor t) {
        if (!(t.storage() instanceof DeviceStorage d))
            throw new IllegalArgumentException("tensor " + t + " is not in GPU memory: NCCL moves tensors of the cuda backend");
        return d.address() + t.offset() * t.dtype().size;
    }

    /** NCCL's element type of two tensors that must share one. */
    private static int type(Tensor a, Tensor b) {
        if (a.dtype() != b.dtype())
            throw new IllegalArgumentException("tensors " + a + " and " + b + " differ in element type: NCCL moves one type at a time");
        return switch (a.dtype()) {
            case F32 -> ncclFloat32;
            case BF16 -> ncclBfloat16;
            case F16 -> ncclFloat16;
            case F64 -> ncclFloat64;
        };
    }

    private static Pointer ptr(Tensor t) { return Nccl.at(address(t)); }

    private static void requireSize(String what, Tensor t, long n) {
        if (t.size() != n)
            throw new IllegalArgumentException(what + ": tensor " + t + " has " + t.size() + " floats, expected " + n);
    }

    private static void cuda(int rc, String what) {
        if (rc != cudaSuccess)
            throw new CudaException(what + " failed: CUDA error " + rc + " (" + cudaGetErrorString(rc).getString() + ")");
    }
}
