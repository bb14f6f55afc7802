package vit22b.bench;

import java.util.SplittableRandom;

import vit22b.backend.Backend;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;

/** Shapes and seeded random tensors shared by the JMH benchmarks: vit-s-fmnist, batch 64. */
final class BenchTensors {
    static final ModelConfig CONFIG = Presets.get("vit-s-fmnist");
    static final int BATCH = 64;

    private BenchTensors() {}

    /** A tensor of {@code shape} filled with uniform [-1, 1) values from {@code seed}. */
    static Tensor random(Backend be, long seed, int... shape) {
        Tensor t = be.allocate(shape);
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < a.length; i++) a[i] = (float) (2 * r.nextDouble() - 1);
        be.upload(t, a);
        return t;
    }
}
