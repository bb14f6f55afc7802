package vit22b.tensor;

/** A block of float32 memory owned by one backend (host RAM or GPU memory). */
public interface Storage extends AutoCloseable {
    /** Capacity in float32 elements. */
    long floats();

    @Override
    void close();
}
