package vit22b.kernels;

import java.lang.foreign.MemorySegment;

/**
 * One CUDA device as a backend uses it: device memory, stream-ordered copies and memsets,
 * streams, events, graph capture and the kernel launcher. {@link JCudaRuntime} drives a GPU
 * through the driver API; {@link vit22b.kernels.emu.EmulatedRuntime} runs the same kernels
 * compiled for the host, so backend code written against this interface runs on both.
 *
 * <p>Device memory is addressed by plain 64-bit addresses. Every copy and memset is queued on a
 * stream: there is deliberately no synchronous legacy-stream copy, which a non-blocking stream
 * does not wait for. Host memory passed to a copy must stay valid until the stream has run it;
 * {@link #allocateHost} gives page-locked memory, which lets the copy run asynchronously.
 */
public interface DeviceRuntime extends AutoCloseable {
    /** For logs: which device this is. */
    String description();

    /** The launcher for our kernels on this device. */
    KernelLauncher launcher();

    /** A new non-blocking stream. */
    DeviceStream createStream();

    DeviceEvent createEvent();

    /** {@code bytes} of device memory (cuMemAlloc); fails with CUDA's error while a stream captures. */
    long allocate(long bytes);

    /** Returns memory from {@link #allocate} (cuMemFree: waits for the device first). */
    void free(long address);

    /** Page-locked host memory of {@code bytes} (cuMemAllocHost). */
    MemorySegment allocateHost(long bytes);

    void freeHost(MemorySegment host);

    /** Queues dst (device) = src (host), {@code bytes} bytes. */
    void copyToDevice(long dst, MemorySegment src, long bytes, DeviceStream stream);

    /** Queues dst (host) = src (device), {@code bytes} bytes. */
    void copyToHost(MemorySegment dst, long src, long bytes, DeviceStream stream);

    /** Queues a device-to-device copy of {@code bytes} bytes. */
    void copy(long dst, long src, long bytes, DeviceStream stream);

    /** Queues {@code count} 32-bit words at dst = value (cuMemsetD32Async). */
    void fill32(long dst, int value, long count, DeviceStream stream);

    /** Makes this device current on the calling thread (one thread may drive several GPUs). */
    void makeCurrent();

    /** Free and total device memory, for error messages. */
    String memoryReport();

    /** Bytes of device memory free now (cuMemGetInfo), Long.MAX_VALUE where the device does not say. */
    default long freeBytes() { return Long.MAX_VALUE; }

    /**
     * Whether this device runs the sm_90a kernels (wgmma, TMA, mbarriers: gemm_bf16_wgmma and the
     * Hopper attention): a compute capability 9.0 GPU, or the emulated device opened as a Hopper
     * ({@link vit22b.kernels.emu.EmulatedRuntime#open(boolean)}). A backend picks those kernels
     * where this holds and the sm_80 ones (mma.sync) elsewhere. Newer GPUs are not Hopper: wgmma
     * exists only in sm_90a.
     */
    default boolean hopper() { return false; }

    /**
     * The 128 bytes of the CUtensorMap kernel argument describing {@code map} (pass them to
     * {@link KernelLauncher#launch} as a {@code byte[]}). Only a device with TMA (Hopper's tensor
     * memory accelerator) has one; the default refuses.
     */
    default byte[] encodeTensorMap(TensorMap2d map) {
        throw new CudaException(description() + " has no TMA (tensor memory accelerator): tensor maps need a Hopper GPU "
                + "(compute capability 9.0) or the emulated device; use the sm_80 kernels (gemm_bf16_mma) here");
    }

    /**
     * How many clusters of {@code clusterSize} blocks of kernel {@code kernel}, each block of
     * {@code threads} threads and {@code sharedBytes} bytes of dynamic shared memory, this device
     * runs at once: a persistent cluster kernel's grid (more would run in a second wave). 0 when not
     * one such cluster fits. Only a device with thread-block clusters answers; the default refuses.
     */
    default int maxActiveClusters(String kernel, int clusterSize, int threads, int sharedBytes) {
        throw new CudaException(description() + " has no thread-block clusters: " + kernel + " needs a Hopper GPU "
                + "(compute capability 9.0) or the emulated device");
    }

    /** Releases the device (in its own context, whichever is current on the calling thread). */
    @Override void close();
}
