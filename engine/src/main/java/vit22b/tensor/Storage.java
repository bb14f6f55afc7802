package vit22b.tensor;

import vit22b.io.DType;

/** A block of memory of one element type, owned by one backend (host RAM or GPU memory). */
public interface Storage extends AutoCloseable {
    /** Capacity in elements of {@link #dtype()}. */
    long elements();

    /** The element type: F32 or BF16. */
    DType dtype();

    @Override
    void close();
}
