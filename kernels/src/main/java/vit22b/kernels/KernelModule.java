package vit22b.kernels;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * The kernels fatbin ({@value #RESOURCE}, built by nvcc during the Maven build) loaded into the
 * current CUDA context with cuModuleLoadData: the GPU's {@link KernelLauncher} (see
 * {@link JCudaRuntime}). {@link #launch} checks the launch and names the kernel in any error.
 */
public final class KernelModule implements KernelLauncher, AutoCloseable {
    public static final String RESOURCE = "/vit22b/kernels/vit22b.fatbin";
    private static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    private final CUmodule module = new CUmodule();
    // Concurrent: the backends of several mesh ranks on one GPU launch from their own host threads.
    private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();
    private final Map<String, Integer> sharedLimit = new ConcurrentHashMap<>();
    private final Map<String, Integer> clusters = new ConcurrentHashMap<>();
    private boolean closed;

    /** Whether the fatbin was built into the classpath (nvcc was present at build time). */
    public static boolean built() {
        return KernelModule.class.getResource(RESOURCE) != null;
    }

    /** Loads the fatbin into the context current on this thread. */
    public KernelModule() {
        Cuda.check(JCudaDriver.cuModuleLoadData(module, fatbin()), "cuModuleLoadData(" + RESOURCE + ")");
    }

    /** The fatbin's bytes; a clear error when the build had no nvcc. */
    public static byte[] fatbin() {
        try (InputStream in = KernelModule.class.getResourceAsStream(RESOURCE)) {
            if (in == null)
                throw new CudaException("the CUDA kernels were not built (no " + RESOURCE + " on the classpath): "
                        + "install the CUDA 13 toolkit so that nvcc is on PATH and rebuild (mvn -pl kernels package), "
                        + "or use the Docker image");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new CudaException("cannot read " + RESOURCE + ": " + e.getMessage());
        }
    }

    public CUfunction function(String name) {
        if (closed) throw new IllegalStateException("kernel module is closed");
        return functions.computeIfAbsent(name, n -> {
            Function f = new Function();
            Cuda.check(JCudaDriver.cuModuleGetFunction(f, module, n), "cuModuleGetFunction(" + n + ")");
            return f;
        });
    }

    /** Dynamic shared memory above 48 KB is opted into once per kernel. */
    @Override public void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                 DeviceStream stream, Object... args) {
        CUfunction f = function(name);
        optIn(name, f, sharedBytes);
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) params[i] = Pointer.to(KernelLauncher.argumentBytes(name, i, args[i]));
        if (gx <= 0 || gy <= 0 || gz <= 0) return;   // empty problem: nothing to launch
        int rc = JCudaDriver.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sharedBytes, JCudaRuntime.handle(stream),
                Pointer.to(params), null);
        if (rc != 0) throw new CudaException("kernel " + name + " launch (grid " + gx + "x" + gy + "x" + gz
                + ", block " + bx + "x" + by + "x" + bz + ", smem " + sharedBytes + ")", rc);
    }

    private void optIn(String name, CUfunction f, int sharedBytes) {
        if (sharedBytes > 48 * 1024 && sharedLimit.getOrDefault(name, 0) < sharedBytes) {
            Cuda.check(JCudaDriver.cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes),
                    "kernel " + name + ": raising dynamic shared memory to " + sharedBytes + " bytes");
            sharedLimit.put(name, sharedBytes);
        }
    }

    /**
     * cuOccupancyMaxActiveClusters: how many clusters of kernel {@code name} (of the size its
     * {@code __cluster_dims__} fixes, {@code clusterSize}) the GPU holds at once with {@code threads}
     * threads and {@code sharedBytes} of dynamic shared memory per block; 0 if not one fits. A
     * cluster's CTAs must share one GPC, so this can be below SMs / clusterSize. Asked once per
     * kernel and shape (after the shared-memory opt-in its launch makes, without which the driver
     * would answer for 48 KB), and the answer kept.
     */
    public int maxActiveClusters(String name, int clusterSize, int threads, int sharedBytes) {
        return clusters.computeIfAbsent(name + " cluster=" + clusterSize + " threads=" + threads + " smem=" + sharedBytes, k -> {
            Function f = (Function) function(name);
            optIn(name, f, sharedBytes);
            try (Arena a = Arena.ofConfined()) {
                // CUlaunchConfig (cuda.h): gridDim x y z, blockDim x y z, sharedMemBytes (u32 each), then
                // hStream, attrs (pointers, at 32 and 40), numAttrs (u32 at 48): 56 bytes. No cluster
                // attribute: the kernel's compile-time cluster size applies (grid.x must be a multiple of it).
                MemorySegment config = a.allocate(56, 8);
                config.set(JAVA_INT, 0, clusterSize);
                config.set(JAVA_INT, 4, 1);
                config.set(JAVA_INT, 8, 1);
                config.set(JAVA_INT, 12, threads);
                config.set(JAVA_INT, 16, 1);
                config.set(JAVA_INT, 20, 1);
                config.set(JAVA_INT, 24, sharedBytes);
                MemorySegment n = a.allocate(JAVA_INT);
                int rc;
                try {
                    rc = (int) occupancy().invokeExact(n, MemorySegment.ofAddress(f.raw()), config);
                } catch (Throwable t) {
                    throw new CudaException("cuOccupancyMaxActiveClusters(" + k + ") could not be called: " + t);
                }
                if (rc != 0) throw new CudaException("cuOccupancyMaxActiveClusters(" + k + ")", rc);
                return n.get(JAVA_INT, 0);
            }
        });
    }

    private static MethodHandle occupancy;

    private static synchronized MethodHandle occupancy() {
        if (occupancy == null)
            occupancy = LibCuda.downcall("cuOccupancyMaxActiveClusters", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS),
                    "a CUDA 12+ driver (>= 525) for thread-block clusters");
        return occupancy;
    }

    /** A CUfunction whose raw handle the java.lang.foreign calls can pass. */
    private static final class Function extends CUfunction {
        long raw() { return getNativePointer(); }
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        Cuda.check(JCudaDriver.cuModuleUnload(module), "cuModuleUnload");
    }
}
