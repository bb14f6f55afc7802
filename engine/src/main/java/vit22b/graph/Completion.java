package vit22b.graph;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The completion of an asynchronous communication: what a task waits on before it reads the
 * received data or reuses the sent buffer. A failed communication rethrows its error from
 * {@link #await}.
 */
public interface Completion {

    /**
     * After this returns, the caller may read what was received and reuse what was sent: the CPU
     * transports block until the communication has finished; on a CUDA device (the single-device
     * communicator, {@code mesh.device.DeviceCommunicator}) the caller's stream waits for it
     * instead, so the host goes on queueing work. Rethrows a failure.
     */
    void await();

    /** A completion over a future (the CPU transports run each operation on a communication thread). */
    static Completion of(CompletableFuture<?> f) {
        return new Completion() {
            @Override public void await() {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for a communication", e);
                } catch (ExecutionException | CancellationException e) {
                    Throwable c = e.getCause() == null ? e : e.getCause();
                    if (c instanceof RuntimeException re) throw re;
                    throw new IllegalStateException(c.getMessage(), c);
                }
            }
        };
    }
}
