package vit22b.kernels;

/** A point in a stream's work: orders streams ({@link DeviceStream#waitFor}) and times work. */
public interface DeviceEvent extends AutoCloseable {
    /** Marks the point after everything queued on {@code stream} so far. */
    void record(DeviceStream stream);

    /** Waits until the recorded point is reached. */
    void synchronize();

    /** Milliseconds from {@code start}'s recorded point to this one's (both reached). */
    float millisSince(DeviceEvent start);

    @Override void close();
}
