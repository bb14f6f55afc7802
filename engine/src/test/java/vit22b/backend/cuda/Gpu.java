package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import jcuda.driver.JCudaDriver;
import vit22b.kernels.Cuda;
import vit22b.kernels.CudaException;
import vit22b.kernels.KernelModule;

/** Opens the GPU backend, or skips the calling test (JUnit assumption) saying why. Public for the mesh's NCCL tests. */
public final class Gpu {
    private Gpu() {}

    public static void skip(String why) {
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

    /** The number of visible GPUs (at least 1), or skips when the kernels or the GPU are missing. */
    public static int countOrSkip() {
        if (!KernelModule.built()) skip("CUDA kernels not built (no nvcc at build time)");
        try {
            Cuda.init();
            int[] n = new int[1];
            Cuda.check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
            return n[0];
        } catch (CudaException | UnsatisfiedLinkError | NoClassDefFoundError e) {
            skip("no usable GPU: " + e.getMessage());
            throw new AssertionError("unreachable");
        }
    }
}
