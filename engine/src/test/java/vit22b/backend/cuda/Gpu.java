package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import vit22b.kernels.CudaException;
import vit22b.kernels.KernelModule;

/** Opens the GPU backend, or skips the calling test (JUnit assumption) saying why. */
final class Gpu {
    private Gpu() {}

    private static void skip(String why) {
        System.err.println("GPU tests skipped: " + why);
        assumeTrue(false, why);
    }

    static CudaBackend backendOrSkip() { return backendOrSkip(CudaBackend.GemmPath.KERNELS); }

    static CudaBackend backendOrSkip(CudaBackend.GemmPath path) {
        if (!KernelModule.built()) skip("CUDA kernels not built (no nvcc at build time)");
        try {
            return new CudaBackend(0, path);
        } catch (CudaException | UnsatisfiedLinkError | NoClassDefFoundError e) {
            skip("no usable GPU: " + e.getMessage());
            throw new AssertionError("unreachable");
        }
    }
}
