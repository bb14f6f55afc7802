package vit22b.backend.cuda;

import java.util.ArrayList;
import java.util.List;

import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;
import vit22b.kernels.Cuda;
import vit22b.kernels.KernelModule;
import vit22b.kernels.emu.EmuLibrary;

/**
 * What the GPU path needs, probed one piece at a time without ever failing: driver, GPUs,
 * kernels fatbin, cuBLASLt, NCCL. Each finding carries the fix when something is missing.
 * Used by {@code vit doctor}.
 */
public final class CudaDiagnostics {
    /** One line of the report; {@code fix} is null when all is well. */
    public record Finding(String what, String detail, String fix) {
        public boolean ok() { return fix == null; }
    }

    private static final int CC_MAJOR = 75, CC_MINOR = 76, SM_COUNT = 16;

    private CudaDiagnostics() {}

    public static List<Finding> run() {
        List<Finding> out = new ArrayList<>();
        out.add(new Finding("java", Runtime.version() + " (" + System.getProperty("java.vm.name") + ")",
                Runtime.version().feature() >= 25 ? null : "install a JDK 25 or newer"));
        boolean driver = false;
        try {
            Cuda.init();
            driver = true;
            int[] v = new int[1];
            Cuda.check(JCudaDriver.cuDriverGetVersion(v), "cuDriverGetVersion");
            out.add(new Finding("cuda driver", "supports CUDA " + v[0] / 1000 + "." + (v[0] % 1000) / 10,
                    v[0] >= 13000 ? null : "the kernels are built with CUDA 13: update the NVIDIA driver to 580 or newer"));
            int[] n = new int[1];
            Cuda.check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
            for (int i = 0; i < n[0]; i++) out.add(gpu(i));
        } catch (RuntimeException | LinkageError e) {
            out.add(new Finding("cuda driver", "not usable: " + firstLine(e),
                    "run on a machine with an NVIDIA GPU and driver >= 580 (libcuda.so.1); in Docker: docker run --gpus all"));
        }
        if (!KernelModule.built()) {
            out.add(new Finding("kernels", "fatbin " + KernelModule.RESOURCE + " not built",
                    "install the CUDA 13 toolkit so that nvcc is on PATH and rebuild (./vit rebuilds; or use the Docker image)"));
        } else if (driver) {
            try {
                Cuda.primaryContext(0);
                new KernelModule().close();
                out.add(new Finding("kernels", "fatbin built and loads on GPU 0", null));
            } catch (RuntimeException e) {
                out.add(new Finding("kernels", "fatbin built but does not load: " + firstLine(e),
                        "use a GPU of compute capability 8.0 or newer and driver >= 580"));
            }
        } else {
            out.add(new Finding("kernels", "fatbin built (sm_80, sm_90a, PTX compute_90); not loaded: no driver", null));
        }
        out.add(emulator());
        out.add(library("cublasLt", () -> "version " + CublasLt.version(),
                "put the CUDA 13 libraries (libcublasLt.so.13) on LD_LIBRARY_PATH, or use the Docker image"));
        out.add(library("nccl", () -> {
            int[] v = new int[1];
            org.bytedeco.cuda.global.nccl.ncclGetVersion(v);
            return "version " + v[0];
        }, "install NCCL for CUDA 13 (libnccl.so.2) and the CUDA 13 runtime (libcudart.so.13) and put them on LD_LIBRARY_PATH "
                + "(needed only for mesh-train --backend cuda, one process per GPU)"));
        return out;
    }

    /**
     * The emulated device (--backend cuda-emu and cuda-emu-hopper, the CUDA tests in CI): built, and
     * loads with its kernel table; which bf16 GEMM kernel each name takes.
     */
    private static Finding emulator() {
        String fix = "install g++ (apt-get install g++) and rebuild (./vit rebuilds; mvn -pl kernels package)";
        if (!EmuLibrary.built()) return new Finding("cuda-emu", "emulated device not built (no g++ at build time)", fix);
        try {
            return new Finding("cuda-emu", "emulated device built, " + EmuLibrary.bundled().kernels().size() + " kernels; bf16 GEMMs: "
                    + CudaBackend.bf16GemmKernel(false) + " on cuda-emu, " + CudaBackend.bf16GemmKernel(true) + " on cuda-emu-hopper",
                    null);
        } catch (RuntimeException e) {
            return new Finding("cuda-emu", "emulated device built but does not load: " + firstLine(e), fix);
        }
    }

    private static Finding gpu(int i) {
        CUdevice d = new CUdevice();
        Cuda.check(JCudaDriver.cuDeviceGet(d, i), "cuDeviceGet");
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, d);
        int[] major = new int[1], minor = new int[1], sms = new int[1];
        long[] mem = new long[1];
        JCudaDriver.cuDeviceGetAttribute(major, CC_MAJOR, d);
        JCudaDriver.cuDeviceGetAttribute(minor, CC_MINOR, d);
        JCudaDriver.cuDeviceGetAttribute(sms, SM_COUNT, d);
        JCudaDriver.cuDeviceTotalMem(mem, d);
        String n = new String(name, 0, indexOfZero(name));
        String detail = String.format("%s, compute capability %d.%d, %d SMs, %.1f GiB; bf16 GEMMs: %s", n, major[0], minor[0],
                sms[0], mem[0] / (double) (1L << 30), CudaBackend.bf16GemmKernel(10 * major[0] + minor[0] == 90));
        return new Finding("gpu " + i, detail, major[0] >= 8 ? null
                : "compute capability 8.0 or newer is needed (the fatbin holds sm_80, sm_90a and compute_90 PTX)");
    }

    private static int indexOfZero(byte[] b) {
        for (int i = 0; i < b.length; i++) if (b[i] == 0) return i;
        return b.length;
    }

    private static Finding library(String what, java.util.function.Supplier<String> probe, String fix) {
        try {
            return new Finding(what, probe.get(), null);
        } catch (RuntimeException | LinkageError e) {
            return new Finding(what, "does not load: " + firstLine(e), fix);
        }
    }

    /** The most specific line of a native-loading message (JCuda puts the cause last). */
    private static String firstLine(Throwable e) {
        String[] lines = String.valueOf(e.getMessage()).split("\n");
        for (int i = lines.length - 1; i >= 0; i--) if (!lines[i].isBlank()) return lines[i].strip();
        return e.toString();
    }
}
