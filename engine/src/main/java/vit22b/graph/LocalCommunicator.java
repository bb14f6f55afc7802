package vit22b.graph;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * The communicator of a 1 x 1 mesh: every group holds this device alone, so a gather or a
 * scatter is a copy (none when in and out are the same tensor), a reduction leaves its buffer as
 * it is, and a ring step sends to itself. The unsharded model runs the block program on it.
 */
public final class LocalCommunicator implements Communicator {
    private static final Mesh ONE = new Mesh(1, 1);
    private static final Completion DONE = () -> {};
    private final Backend backend;
    private Tensor pending;

    /** {@code backend} does the copies. */
    public LocalCommunicator(Backend backend) { this.backend = backend; }

    @Override public Mesh mesh() { return ONE; }

    @Override public int rank() { return 0; }

    @Override public Completion allGather(Axis a, Tensor out, Tensor in) { return copy(out, in); }

    @Override public Completion reduceScatter(Axis a, Tensor out, Tensor in) { return copy(out, in); }

    @Override public Completion allReduce(Axis a, Tensor t, Tensor scratch) { return DONE; }

    @Override public Completion shift(Axis a, Tensor send, Tensor recv) { return copy(recv, send); }

    @Override public Completion exchange(Axis a, Tensor send, Tensor fromPrev, Tensor fromNext) {
        copy(fromPrev, send);
        return copy(fromNext, send);
    }

    /** Held until the matching {@link #recv}: the only device on the ring is this one. */
    @Override public Completion send(Axis a, int steps, Tensor src) {
        if (pending != null) throw new IllegalStateException("a second send before the first one's receive on a 1 x 1 mesh");
        pending = src;
        return DONE;
    }

    @Override public Completion recv(Axis a, int steps, Tensor dst) {
        if (pending == null) throw new IllegalStateException("a receive with nothing sent on a 1 x 1 mesh");
        Tensor src = pending;
        pending = null;
        return copy(dst, src);
    }

    private Completion copy(Tensor dst, Tensor src) {
        if (dst.size() != src.size())
            throw new IllegalArgumentException("a 1 x 1 collective copies " + src + " into " + dst + ": sizes differ");
        if (!sameView(dst, src)) backend.copy(dst, src);
        return DONE;
    }

    private static boolean sameView(Tensor a, Tensor b) {
        return a.storage() == b.storage() && a.offset() == b.offset();
    }
}
