package vit22b.backend.cuda;

import vit22b.io.DType;
import vit22b.tensor.Tensor;

/** Random values made on the device (no host copy): what a benchmark fills a large model with. */
public final class DeviceFill {
    private DeviceFill() {}

    /** t (F32) = uniform in [-bound, bound), from {@code seed}, by our fill kernel. */
    public static void uniform(CudaBackend be, Tensor t, long seed, float bound) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException("uniform fill of " + t + ": needs an F32 tensor");
        be.kernels().fillUniform(CudaBackend.a(t), t.size(), seed, -bound, bound);
    }
}
