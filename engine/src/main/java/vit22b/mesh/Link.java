package vit22b.mesh;

import java.lang.foreign.MemorySegment;

/**
 * One device's end of the wires of a CPU mesh (threads in one JVM, or processes over TCP):
 * per peer, messages arrive in the order sent, and a send never waits for the receiver (the
 * ring algorithms send before they receive on every device at once).
 */
public interface Link {

    /** Copies {@code src} to device {@code to}. */
    void send(int to, MemorySegment src);

    /** Blocks until the next message from device {@code from} arrives, then copies it into {@code dst}. */
    void recv(int from, MemorySegment dst);
}
