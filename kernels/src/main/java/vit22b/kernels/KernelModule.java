package vit22b.kernels;

import java.io.IOException;
import java.io.InputStream;
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
            CUfunction f = new CUfunction();
            Cuda.check(JCudaDriver.cuModuleGetFunction(f, module, n), "cuModuleGetFunction(" + n + ")");
            return f;
        });
    }

    /** Dynamic shared memory above 48 KB is opted into once per kernel. */
    @Override public void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                 DeviceStream stream, Object... args) {
        CUfunction f = function(name);
        if (sharedBytes > 48 * 1024 && sharedLimit.getOrDefault(name, 0) < sharedBytes) {
            Cuda.check(JCudaDriver.cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes),
                    "kernel " + name + ": raising dynamic shared memory to " + sharedBytes + " bytes");
            sharedLimit.put(name, sharedBytes);
        }
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) params[i] = Pointer.to(KernelLauncher.argumentBytes(name, i, args[i]));
        if (gx <= 0 || gy <= 0 || gz <= 0) return;   // empty problem: nothing to launch
        int rc = JCudaDriver.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sharedBytes, JCudaRuntime.handle(stream),
                Pointer.to(params), null);
        if (rc != 0) throw new CudaException("kernel " + name + " launch (grid " + gx + "x" + gy + "x" + gz
                + ", block " + bx + "x" + by + "x" + bz + ", smem " + sharedBytes + ")", rc);
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        Cuda.check(JCudaDriver.cuModuleUnload(module), "cuModuleUnload");
    }
}
