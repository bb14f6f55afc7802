package vit22b.mesh.device;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import vit22b.kernels.DeviceEvent;
import vit22b.tensor.Tensor;

/**
 * Where the host threads of the ranks on one device match their transfers: one FIFO per ordered
 * pair of ranks, as NCCL matches the same calls issued in the same order on every rank. What
 * travels is not data but a description of it: the sender's tensor and the event that marks it
 * ready on the sender's stream; the receiver copies it on its own stream and answers with the
 * event after which the sender may reuse it. {@link #abort} wakes every host thread waiting
 * here with the failure, so a failed rank does not leave its peers blocked.
 */
final class Mailbox {

    /** A send: {@code src} is ready once {@code ready} is reached; {@code read} gets the receiver's event after its copy. */
    record Message(Tensor src, DeviceEvent ready, CompletableFuture<DeviceEvent> read) {}

    /** Put on every wire by abort: a receiver that takes it fails. */
    private static final Message ABORTED = new Message(null, null, null);

    private final int n;
    private final BlockingQueue<Message>[] wires;
    private volatile String abortReason;

    @SuppressWarnings("unchecked")
    Mailbox(int ranks) {
        this.n = ranks;
        this.wires = new BlockingQueue[ranks * ranks];
        for (int i = 0; i < wires.length; i++) wires[i] = new LinkedBlockingQueue<>();
    }

    void post(int from, int to, Message m) {
        failIfAborted(from);
        wires[from * n + to].add(m);
    }

    /** The next message from {@code from} to {@code to}; blocks until the sender has issued it. */
    Message take(int from, int to) {
        Message m;
        try {
            m = wires[from * n + to].take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("rank " + to + " interrupted waiting for rank " + from, e);
        }
        if (m == ABORTED) {
            wires[from * n + to].add(ABORTED);
            throw new IllegalStateException("rank " + to + " stopped waiting for rank " + from + ": " + abortReason);
        }
        return m;
    }

    /** The event after which the receiver of {@code m} has read it; blocks until the receiver has issued its copy. */
    DeviceEvent read(Message m, int sender) {
        try {
            while (true) {
                failIfAborted(sender);
                try {
                    return m.read().get(50, TimeUnit.MILLISECONDS);
                } catch (TimeoutException again) {
                    // poll the abort flag: a failed receiver never answers
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("rank " + sender + " interrupted waiting for a receiver", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        }
    }

    private void failIfAborted(int rank) {
        String why = abortReason;
        if (why != null) throw new IllegalStateException("rank " + rank + " stopped: " + why);
    }

    /** Fails every pending and later wait with {@code reason}. */
    void abort(String reason) {
        if (abortReason != null) return;
        abortReason = reason;
        for (BlockingQueue<Message> w : wires) w.add(ABORTED);
    }
}
