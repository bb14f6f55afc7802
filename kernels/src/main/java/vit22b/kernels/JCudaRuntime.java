package vit22b.kernels;

import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * A GPU through the CUDA driver API (JCuda): the device's primary context, our kernels fatbin
 * loaded into it ({@link KernelModule}), non-blocking streams, events and graphs. Every call
 * that touches the device first makes this device's context current, so a thread that drives
 * several GPUs cannot act on the wrong one.
 */
public final class JCudaRuntime implements DeviceRuntime {
    private static final int CU_STREAM_NON_BLOCKING = 1, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
    private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
            CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

    private final int ordinal;
    private final CUdevice device = new CUdevice();
    private final CUcontext context;
    private final KernelModule module;
    private final Map<Long, Pointer> hostBlocks = new ConcurrentHashMap<>();   // backends on several host threads share the device
    private boolean closed;

    /** Opens GPU {@code ordinal}: retains its primary context and loads the kernels; releases both if a step fails. */
    public JCudaRuntime(int ordinal) {
        this.ordinal = ordinal;
        context = Cuda.primaryContext(ordinal);
        Cuda.check(JCudaDriver.cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        try {
            module = new KernelModule();
        } catch (RuntimeException e) {
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
            throw e;
        }
    }

    @Override public String description() {
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, device);
        int n = 0;
        while (n < name.length && name[n] != 0) n++;
        return "GPU " + ordinal + " (" + new String(name, 0, n) + ")";
    }

    @Override public KernelLauncher launcher() { return module; }

    @Override public DeviceStream createStream() {
        makeCurrent();
        return new Stream();
    }

    @Override public DeviceEvent createEvent() {
        makeCurrent();
        return new Event();
    }

    @Override public long allocate(long bytes) {
        makeCurrent();
        Address p = new Address();
        int rc = JCudaDriver.cuMemAlloc(p, bytes);
        if (rc != 0) throw new CudaException("cuMemAlloc of " + bytes + " bytes (" + memoryReport() + ")", rc);
        return p.value();
    }

    @Override public void free(long address) {
        makeCurrent();
        Cuda.check(JCudaDriver.cuMemFree(device(address)), "cuMemFree");
    }

    @Override public MemorySegment allocateHost(long bytes) {
        makeCurrent();
        Pointer p = new Pointer();
        Cuda.check(JCudaDriver.cuMemAllocHost(p, bytes), "cuMemAllocHost of " + bytes + " bytes");
        MemorySegment s = MemorySegment.ofBuffer(p.getByteBuffer(0, bytes));
        hostBlocks.put(s.address(), p);
        return s;
    }

    @Override public void freeHost(MemorySegment host) {
        Pointer p = hostBlocks.remove(host.address());
        if (p == null) throw new IllegalArgumentException("host memory at 0x" + Long.toHexString(host.address())
                + " was not allocated by allocateHost");
        makeCurrent();
        Cuda.check(JCudaDriver.cuMemFreeHost(p), "cuMemFreeHost");
    }

    @Override public void copyToDevice(long dst, MemorySegment src, long bytes, DeviceStream stream) {
        makeCurrent();
        Cuda.check(JCudaDriver.cuMemcpyHtoDAsync(device(dst), host(src), bytes, handle(stream)), "cuMemcpyHtoDAsync");
    }

    @Override public void copyToHost(MemorySegment dst, long src, long bytes, DeviceStream stream) {
        makeCurrent();
        Cuda.check(JCudaDriver.cuMemcpyDtoHAsync(host(dst), device(src), bytes, handle(stream)), "cuMemcpyDtoHAsync");
    }

    @Override public void copy(long dst, long src, long bytes, DeviceStream stream) {
        makeCurrent();
        Cuda.check(JCudaDriver.cuMemcpyDtoDAsync(device(dst), device(src), bytes, handle(stream)), "cuMemcpyDtoDAsync");
    }

    @Override public void fill32(long dst, int value, long count, DeviceStream stream) {
        makeCurrent();
        Cuda.check(JCudaDriver.cuMemsetD32Async(device(dst), value, count, handle(stream)), "cuMemsetD32Async");
    }

    /** Compute capability as 10 * major + minor (90 for Hopper). */
    public int computeCapability() { return 10 * attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "compute capability major")
            + attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "compute capability minor"); }

    /** Compute capability 9.0 exactly: the sm_90a image (wgmma, TMA) runs here and nowhere else. */
    @Override public boolean hopper() { return computeCapability() == 90; }

    /** cuOccupancyMaxActiveClusters, asked once per kernel and shape ({@link KernelModule#maxActiveClusters}). */
    @Override public int maxActiveClusters(String kernel, int clusterSize, int threads, int sharedBytes) {
        makeCurrent();
        return module.maxActiveClusters(kernel, clusterSize, threads, sharedBytes);
    }

    private int attribute(int which, String what) {
        int[] v = new int[1];
        Cuda.check(JCudaDriver.cuDeviceGetAttribute(v, which, device), "cuDeviceGetAttribute(" + what + ")");
        return v[0];
    }

    /** cuTensorMapEncodeTiled through {@link TensorMapEncoder}; TMA exists from compute capability 9.0. */
    @Override public byte[] encodeTensorMap(TensorMap2d map) {
        int cc = computeCapability();
        if (cc < 90)
            throw new CudaException(description() + " (compute capability " + cc / 10 + "." + cc % 10 + ") has no TMA: "
                    + "tensor maps need compute capability 9.0 or newer; use the sm_80 kernels (gemm_bf16_mma)");
        makeCurrent();
        return TensorMapEncoder.encode(map);
    }

    @Override public void makeCurrent() {
        if (closed) throw new IllegalStateException("GPU " + ordinal + " runtime is closed");
        Cuda.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    @Override public long freeBytes() {
        makeCurrent();
        long[] free = new long[1], total = new long[1];
        Cuda.check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo");
        return free[0];
    }

    @Override public String memoryReport() {
        long[] free = new long[1], total = new long[1];
        JCudaDriver.cuMemGetInfo(free, total);
        return free[0] + " bytes free of " + total[0] + " on GPU " + ordinal;
    }

    @Override public void close() {
        if (closed) return;
        makeCurrent();
        closed = true;
        try {
            module.close();
        } finally {
            Cuda.check(JCudaDriver.cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
        }
    }

    // ---- pointers: the driver takes CUdeviceptr / Pointer objects; we keep raw addresses ----

    /** A driver pointer object for a raw device address (JCuda adds the byte offset to a null base). */
    static CUdeviceptr device(long address) { return new CUdeviceptr().withByteOffset(address); }

    private static Pointer host(MemorySegment s) {
        if (!s.isNative()) throw new IllegalArgumentException("host copies need native memory (allocateHost)");
        return new Pointer().withByteOffset(s.address());
    }

    /** A CUdeviceptr whose raw address we can read. */
    private static final class Address extends CUdeviceptr {
        long value() { return getNativePointer() + getByteOffset(); }
    }

    static CUstream handle(DeviceStream s) {
        if (!(s instanceof Stream js)) throw new IllegalArgumentException("stream " + s + " does not belong to a GPU runtime");
        return js.handle;
    }

    // ---- streams, events, graphs ------------------------------------------------------------

    /** CUstream whose raw handle we can read, to share the stream with cuBLASLt and NCCL. */
    private static final class Handle extends CUstream {
        long raw() { return getNativePointer(); }
    }

    private final class Stream implements DeviceStream {
        final Handle handle = new Handle();
        boolean capturing;

        Stream() {
            Cuda.check(JCudaDriver.cuStreamCreate(handle, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        }

        @Override public void synchronize() {
            makeCurrent();
            Cuda.check(JCudaDriver.cuStreamSynchronize(handle), "cuStreamSynchronize");
        }

        @Override public void waitFor(DeviceEvent event) {
            makeCurrent();
            Cuda.check(JCudaDriver.cuStreamWaitEvent(handle, ((Event) event).event, 0), "cuStreamWaitEvent");
        }

        @Override public void beginCapture() {
            makeCurrent();
            Cuda.check(JCudaDriver.cuStreamBeginCapture(handle, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
            capturing = true;
        }

        @Override public DeviceGraph endCapture() {
            makeCurrent();
            CUgraph g = new CUgraph();
            capturing = false;
            Cuda.check(JCudaDriver.cuStreamEndCapture(handle, g), "cuStreamEndCapture");
            return new Graph(g);
        }

        @Override public boolean capturing() { return capturing; }

        @Override public long raw() { return handle.raw(); }

        private boolean closed;

        /** Idempotent: destroying a destroyed stream is undefined in the driver. */
        @Override public void close() {
            if (closed) return;
            closed = true;
            makeCurrent();
            Cuda.check(JCudaDriver.cuStreamDestroy(handle), "cuStreamDestroy");
        }
    }

    private final class Event implements DeviceEvent {
        final CUevent event = new CUevent();

        Event() { Cuda.check(JCudaDriver.cuEventCreate(event, 0), "cuEventCreate"); }

        @Override public void record(DeviceStream stream) {
            makeCurrent();
            Cuda.check(JCudaDriver.cuEventRecord(event, handle(stream)), "cuEventRecord");
        }

        @Override public void synchronize() {
            makeCurrent();
            Cuda.check(JCudaDriver.cuEventSynchronize(event), "cuEventSynchronize");
        }

        @Override public float millisSince(DeviceEvent start) {
            float[] ms = new float[1];
            Cuda.check(JCudaDriver.cuEventElapsedTime(ms, ((Event) start).event, event), "cuEventElapsedTime");
            return ms[0];
        }

        private boolean closed;

        /** Idempotent, as Stream.close. */
        @Override public void close() {
            if (closed) return;
            closed = true;
            makeCurrent();
            Cuda.check(JCudaDriver.cuEventDestroy(event), "cuEventDestroy");
        }
    }

    private final class Graph implements DeviceGraph {
        final CUgraph graph;
        final CUgraphExec exec = new CUgraphExec();

        private boolean closed;

        /** Takes {@code graph}: destroyed here when it cannot be instantiated, else by close. */
        Graph(CUgraph graph) {
            this.graph = graph;
            int rc = JCudaDriver.cuGraphInstantiate(exec, graph, 0);
            if (rc != 0) {
                JCudaDriver.cuGraphDestroy(graph);
                Cuda.check(rc, "cuGraphInstantiate");
            }
        }

        @Override public void launch(DeviceStream stream) {
            makeCurrent();
            Cuda.check(JCudaDriver.cuGraphLaunch(exec, handle(stream)), "cuGraphLaunch");
        }

        @Override public void close() {
            if (closed) return;
            closed = true;
            makeCurrent();
            Cuda.check(JCudaDriver.cuGraphExecDestroy(exec), "cuGraphExecDestroy");
            Cuda.check(JCudaDriver.cuGraphDestroy(graph), "cuGraphDestroy");
        }
    }
}
