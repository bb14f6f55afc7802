package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;

import jcuda.driver.JCudaDriver;
import vit22b.backend.Precision;
import vit22b.kernels.Cuda;
import vit22b.kernels.CudaException;
import vit22b.kernels.KernelModule;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.kernels.emu.EmulatedRuntime;

/**
 * The devices the CUDA tests run on: the emulated device always (CI has no GPU), and GPU 0
 * through JCuda when one is usable; then the tests also compare the GPU with the emulator,
 * which checks the emulator itself. Public for the mesh's NCCL tests.
 */
public final class Gpu {
    private Gpu() {}

    public static void skip(String why) {
        System.err.println("CUDA tests skipped: " + why);
        assumeTrue(false, why);
    }

    /** Why GPU 0 cannot run our kernels here, or null when it can. */
    private static String gpuMissing() {
        if (!KernelModule.built()) return "CUDA kernels not built (no nvcc at build time)";
        try {
            Cuda.init();
            return null;
        } catch (CudaException | LinkageError e) {
            return "no usable GPU: " + e.getMessage();
        }
    }

    /**
     * The emulated device, then GPU 0 when present (its backends use {@code path} where they
     * can); skips only when neither is usable. Says on stderr which devices run.
     */
    public static List<CudaBackend> devicesOrSkip() { return devicesOrSkip(Precision.FP32); }

    /** {@link #devicesOrSkip()} with backends in {@code precision}. */
    public static List<CudaBackend> devicesOrSkip(Precision precision) {
        List<CudaBackend> out = new ArrayList<>();
        if (EmuLibrary.built()) out.add(emulated(precision));
        else System.err.println("CUDA tests: the emulated device is not built (no g++ at build time)");
        String missing = gpuMissing();
        if (missing == null) out.add(new CudaBackend(0, CudaBackend.GemmPath.KERNELS, precision));
        else System.err.println("CUDA tests: " + missing + "; testing on the emulated device only");
        if (out.isEmpty()) skip("neither the emulated device nor a GPU is available");
        System.err.println("CUDA tests run on: " + out.stream().map(b -> b.device().description()).toList());
        return out;
    }

    /**
     * Where the sm_90a kernels run: the emulated device as a Hopper, then GPU 0 when it is one
     * (compute capability 9.0), backends in {@code precision}; skips when neither is usable.
     */
    public static List<CudaBackend> hoppersOrSkip(Precision precision) {
        List<CudaBackend> out = new ArrayList<>();
        if (EmuLibrary.built()) out.add(CudaBackend.emulated(precision, true));
        else System.err.println("CUDA tests: the emulated device is not built (no g++ at build time)");
        if (gpuMissing() == null) {
            CudaBackend gpu = new CudaBackend(0, CudaBackend.GemmPath.KERNELS, precision);
            if (gpu.device().hopper()) out.add(gpu);
            else gpu.close();
        }
        if (out.isEmpty()) skip("neither the emulated device nor a Hopper GPU is available");
        System.err.println("Hopper tests run on: " + out.stream().map(b -> b.device().description()).toList());
        return out;
    }

    /** A backend on a fresh emulated device. */
    static CudaBackend emulated() { return emulated(Precision.FP32); }

    /** A backend in {@code precision} on a fresh emulated device. */
    static CudaBackend emulated(Precision precision) {
        return new CudaBackend(new EmulatedRuntime(EmuLibrary.bundled()), CudaBackend.GemmPath.KERNELS, precision);
    }

    /** GPU 0 through JCuda, or skips the test saying why (for what only a GPU has: cuBLASLt). */
    static CudaBackend gpuOrSkip(CudaBackend.GemmPath path) {
        String missing = gpuMissing();
        if (missing != null) skip(missing);
        return new CudaBackend(0, path);
    }

    /** GPU 0 when present, else the emulated device: for tests that check one device. */
    static CudaBackend oneOrSkip() { return oneOrSkip(Precision.FP32); }

    /** {@link #oneOrSkip()} in {@code precision}. */
    static CudaBackend oneOrSkip(Precision precision) {
        if (gpuMissing() == null) return new CudaBackend(0, CudaBackend.GemmPath.KERNELS, precision);
        if (!EmuLibrary.built()) skip("neither a GPU nor the emulated device (no g++ at build time)");
        return emulated(precision);
    }

    /** The number of visible GPUs (at least 1), or skips when the kernels or the GPU are missing. */
    public static int countOrSkip() {
        String missing = gpuMissing();
        if (missing != null) skip(missing);
        int[] n = new int[1];
        Cuda.check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
        return n[0];
    }

    /**
     * The CUDA backend names whose device is usable here, for tests that open devices by name
     * ({@link vit22b.backend.Backends#device}): "cuda-emu" always when built, "cuda" when GPU 0 is
     * usable; skips when neither is. Says on stderr which run.
     */
    public static List<String> deviceNamesOrSkip() {
        List<String> out = new ArrayList<>();
        if (EmuLibrary.built()) out.add("cuda-emu");
        String missing = gpuMissing();
        if (missing == null) out.add("cuda");
        else System.err.println("CUDA tests: " + missing + "; testing on the emulated device only");
        if (out.isEmpty()) skip("neither the emulated device nor a GPU is available");
        return out;
    }
}
