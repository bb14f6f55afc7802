package vit22b.model;

import java.util.ArrayList;
import java.util.List;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/** Tensors allocated on one backend and freed together. */
final class Buffers implements AutoCloseable {
    private final Backend backend;
    private final List<Tensor> owned = new ArrayList<>();

    Buffers(Backend backend) { this.backend = backend; }

    Tensor get(int... shape) {
        Tensor t = backend.allocate(shape);
        owned.add(t);
        return t;
    }

    @Override public void close() {
        for (Tensor t : owned) backend.free(t);
        owned.clear();
    }
}
