package vit22b.model;

import java.util.ArrayList;
import java.util.List;

import vit22b.backend.Backend;
import vit22b.io.DType;
import vit22b.tensor.Tensor;

/**
 * Tensors allocated on one backend and freed together: {@link #get} in the buffers' element
 * type (activations: the backend's compute type), {@link #f32} for what stays float32 in
 * every precision (norm and softmax statistics).
 */
public final class Buffers implements AutoCloseable {
    private final Backend backend;
    private final DType dtype;
    private final List<Tensor> owned = new ArrayList<>();

    /** float32 buffers. */
    public Buffers(Backend backend) { this(backend, DType.F32); }

    public Buffers(Backend backend, DType dtype) {
        this.backend = backend;
        this.dtype = dtype;
    }

    public Tensor get(int... shape) { return keep(backend.allocate(dtype, shape)); }

    /** A float32 buffer whatever the buffers' type (statistics). */
    public Tensor f32(int... shape) { return keep(backend.allocate(DType.F32, shape)); }

    private Tensor keep(Tensor t) {
        owned.add(t);
        return t;
    }

    @Override public void close() {
        for (Tensor t : owned) backend.free(t);
        owned.clear();
    }
}
