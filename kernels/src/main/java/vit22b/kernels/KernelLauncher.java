package vit22b.kernels;

import jcuda.driver.CUstream;

/**
 * Launches a kernel of the fatbin by name: the one call {@link Kernels}' wrappers make, so that
 * the same wrappers can drive the GPU ({@link KernelModule}) or anything else that implements it
 * (a recording launcher in the tests, an emulated device).
 */
public interface KernelLauncher {
    /**
     * Launches {@code name} with grid (gx, gy, gz), block (bx, by, bz) and {@code sharedBytes} of
     * dynamic shared memory on {@code stream}; args are Long (device address or 64-bit integer),
     * Integer or Float, in the kernel's parameter order, null for an absent pointer.
     */
    void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                CUstream stream, Object... args);
}
