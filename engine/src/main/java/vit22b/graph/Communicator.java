package vit22b.graph;

import vit22b.tensor.Tensor;

/**
 * One device's side of the mesh's communication: the collectives of section 3 along either
 * axis, and point-to-point transfers to ring neighbours. Every call only queues the operation
 * and returns its {@link Completion}; operations of one communicator run one after another in
 * the order they were issued, so every device of a group must issue the same operations in the
 * same order. Chunk c of a gathered or scattered buffer belongs to the device at position c on
 * the axis.
 */
public interface Communicator {

    Mesh mesh();

    /** This device's rank in {@link #mesh()}. */
    int rank();

    /** This device's position along {@code a}. */
    default int index(Axis a) { return mesh().index(a, rank()); }

    /** out (p * n) = concatenation over the group of every device's in (n). */
    Completion allGather(Axis a, Tensor out, Tensor in);

    /** out (n) = sum over the group of chunk (own position) of every device's in (p * n). */
    Completion reduceScatter(Axis a, Tensor out, Tensor in);

    /** t = sum of t over the group, in place; scratch holds at least t / p floats (t divisible by p). */
    Completion allReduce(Axis a, Tensor t, Tensor scratch);

    /** Sends {@code send} to the next device on the ring and receives the previous one's into {@code recv}. */
    Completion shift(Axis a, Tensor send, Tensor recv);

    /**
     * Both directions at once: sends {@code send} to both neighbours; {@code fromPrev} receives the
     * previous device's, {@code fromNext} the next device's.
     */
    Completion exchange(Axis a, Tensor send, Tensor fromPrev, Tensor fromNext);

    /** Sends {@code src} to the device {@code steps} positions further along the ring of {@code a}. */
    Completion send(Axis a, int steps, Tensor src);

    /** Receives into {@code dst} the next message from the device {@code steps} positions along the ring of {@code a}. */
    Completion recv(Axis a, int steps, Tensor dst);
}
