package vit22b.kernels;

/**
 * An ordered queue of device work (a non-blocking CUDA stream): kernels, copies and memsets
 * run in the order queued. {@link #beginCapture}..{@link #endCapture} records the queued work
 * into a {@link DeviceGraph} instead of running it; while capturing, anything that would wait
 * for the device or allocate memory fails with CUDA's error.
 */
public interface DeviceStream extends AutoCloseable {
    /** Waits until everything queued so far has run. */
    void synchronize();

    /** Work queued after this call waits until {@code event}'s last recorded point is reached. */
    void waitFor(DeviceEvent event);

    /** Starts recording this stream's work into a graph (CUDA's thread-local capture mode). */
    void beginCapture();

    /** Ends recording and returns the instantiated graph. */
    DeviceGraph endCapture();

    boolean capturing();

    /** The raw cudaStream_t, for libraries that queue on the same stream (cuBLASLt, NCCL); GPU only. */
    long raw();

    @Override void close();
}
