package vit22b.kernels;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

/** Driver initialisation and error checking; every driver call goes through {@link #check}. */
public final class Cuda {
    private Cuda() {}

    /** Throws a {@link CudaException} naming {@code what} unless rc is CUDA_SUCCESS. */
    public static void check(int rc, String what) {
        if (rc != 0) throw new CudaException(what, rc);
    }

    /** CUresult names of the codes the emulated device reports (it runs where libcuda may be absent). */
    private static final java.util.Map<Integer, String> KNOWN = java.util.Map.of(
            1, "CUDA_ERROR_INVALID_VALUE", 2, "CUDA_ERROR_OUT_OF_MEMORY", 500, "CUDA_ERROR_NOT_FOUND",
            719, "CUDA_ERROR_LAUNCH_FAILED", 900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
            901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", 905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION");

    public static String errorName(int code) {
        if (KNOWN.containsKey(code)) return KNOWN.get(code);
        String[] name = new String[1];
        try {
            if (JCudaDriver.cuGetErrorName(code, name) == 0 && name[0] != null) return name[0];
        } catch (Throwable ignored) {
            // the native library itself may be what is missing; the number is all we have
        }
        return "CUDA error";
    }

    /**
     * Loads JCuda's native library and initialises the driver. Failures (no libcuda, no GPU,
     * driver too old) become a CudaException with the fix.
     */
    public static void init() {
        try {
            JCudaDriver.setExceptionsEnabled(false);
            check(JCudaDriver.cuInit(0), "cuInit");
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new CudaException("cannot load the CUDA driver through JCuda (" + shortReason(e)
                    + "); install the NVIDIA driver (libcuda.so.1) and run on a machine with a GPU");
        }
        int[] n = new int[1];
        check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
        if (n[0] == 0) throw new CudaException("the CUDA driver sees no GPU; run on a GPU machine (docker: --gpus all)");
    }

    /** JCuda's loading errors nest whole stack traces; keep the innermost cause's line. */
    private static String shortReason(Throwable e) {
        String reason = String.valueOf(e.getMessage()).lines().findFirst().orElse(e.toString());
        for (String line : String.valueOf(e.getMessage()).lines().toList())
            if (line.startsWith("java.lang.UnsatisfiedLinkError:")) reason = line.substring(line.indexOf(':') + 1).strip();
        return reason;
    }

    /** Initialises the driver and makes device {@code ordinal}'s primary context current. */
    public static CUcontext primaryContext(int ordinal) {
        init();
        CUdevice dev = new CUdevice();
        check(JCudaDriver.cuDeviceGet(dev, ordinal), "cuDeviceGet(" + ordinal + ")");
        CUcontext ctx = new CUcontext();
        check(JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain");
        int rc = JCudaDriver.cuCtxSetCurrent(ctx);
        if (rc != 0) {
            JCudaDriver.cuDevicePrimaryCtxRelease(dev);
            check(rc, "cuCtxSetCurrent");
        }
        return ctx;
    }
}
