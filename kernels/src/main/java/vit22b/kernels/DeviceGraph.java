package vit22b.kernels;

/** Work captured from a {@link DeviceStream}, replayed as a whole (a CUDA graph). */
public interface DeviceGraph extends AutoCloseable {
    /** Queues one replay of the captured work on {@code stream}. */
    void launch(DeviceStream stream);

    @Override void close();
}
