package vit22b.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import vit22b.backend.Backend;
import vit22b.backend.Chunks;
import vit22b.backend.Precision;
import vit22b.io.DType;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceGraph;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.kernels.FlashAttention;
import vit22b.kernels.JCudaRuntime;
import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm;
import vit22b.kernels.TensorMapCache;
import vit22b.kernels.emu.EmulatedRuntime;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;

/**
 * The CUDA backend: every op is one or a few of our kernels (kernels module) queued on one
 * non-blocking stream of a {@link DeviceRuntime}: a GPU ({@link JCudaRuntime}) or the emulated
 * device ({@link EmulatedRuntime}), with the same code. Memory comes from a
 * {@link CachingAllocator}; scratch buffers are kept for the backend's life. Uploads and
 * downloads go through page-locked staging memory on the same stream, so they are ordered
 * with the kernels. Calls that return host values (download, sumSquares, lossForwardBackward)
 * synchronise; everything else only queues work, so such work can be captured into a graph
 * ({@link #record}): once a first eager run has sized the caches, nothing in it allocates.
 * {@link GemmPath#CUBLASLT} runs the fp32 GEMMs through cuBLASLt instead of gemm_f32, with the same
 * epilogues as a separate kernel: the peer our fp32 GEMM kernel is measured against in whole steps.
 *
 * <p>Precision ({@link #precision}, the model's choice of what to allocate as BF16): every op
 * dispatches on its tensors' element types. All-F32 calls run the float32 kernels. In a bf16 call
 * (DESIGN.md, "bf16 mixed precision") activations, their gradients and the compute weights
 * (biases and norm scales too) are BF16 in 2-byte storage, while statistics, parameter gradients,
 * images and targets are F32; any other mixture is refused naming the tensor and the fix. The
 * bf16 kernels compute in fp32 and round each stored element once: the GEMMs (linear, the
 * out-projection, patch embedding) on the tensor cores with bias, residual, beta 1 and the bias
 * gradient fused, gemm_bf16_wgmma on a Hopper and gemm_bf16_mma elsewhere ({@link #nativeGemm});
 * attention on the flash kernels (head dim 64, 128, 256; on a Hopper the wgmma kernels at any
 * multiple of 8 up to 256 forward, 128 backward: {@link #attentionKernels}) or attention.cu's bf16 instantiation;
 * norms, GELU, element-wise ops, heads reshuffles, the in-projection epilogue and the loss on their
 * {@code _bf16} instantiations (16-byte vectors where aligned); AdamW updates the fp32 masters and
 * writes the bf16 copy in one pass.
 */
public final class CudaBackend implements Backend {
    /** Who computes the GEMMs: our gemm_f32 kernel (fused epilogues) or cuBLASLt + an epilogue kernel. */
    public enum GemmPath { KERNELS, CUBLASLT }

    /** Scratch roles: one persistent buffer each, grown on demand outside capture. */
    private enum Scratch { IM2COL, ATTN_DELTA, ATTN_DQ }

    private static final long STAGING_BYTES = 64L << 20;
    /** Each of the two buffers {@link #upload(Tensor, MemorySegment, DType)} streams through. */
    private static final long UPLOAD_CHUNK_BYTES = 32L << 20;

    private final DeviceRuntime device;
    private final boolean ownsDevice;
    /** What the model stores in bf16 on this backend (BF16: activations and compute weights, 2 bytes each). */
    private final Precision precision;
    /** The backend's own stream, and the one its work is queued on now (another only inside {@link #onStream}). */
    private final DeviceStream ownStream;
    private DeviceStream stream;
    private final CachingAllocator allocator;
    private Kernels k;
    /** Device registers, a double each (two float slots): results that stay on the device until read. */
    private final DeviceStorage sumSquares, loss, gradNormSquared;
    /** adamw_scalars' block: lr, clip scale, two bias corrections, "finite" flag, then the int step count. */
    private final DeviceStorage adamwScalars;
    private static final int ADAMW_SCALARS = 6;
    private final DeviceEvent stagingFree;  // the last copy through the staging buffer has run
    private final CublasLt lt;             // null unless GemmPath.CUBLASLT
    private final Map<Scratch, DeviceStorage> scratch = new EnumMap<>(Scratch.class);
    private final List<DeviceStorage> retired = new ArrayList<>();   // outgrown scratch a graph may still use
    private MemorySegment staging;
    /** The byte uploads' double buffer, made on first use; its size (a test makes it small to cross chunk edges). */
    private StagingPair uploadStaging;
    private long uploadChunkBytes = UPLOAD_CHUNK_BYTES;
    private boolean closed;
    private long mmaGemms, wgmmaGemms, fusedInProjections, tensorCoreAttentions, hopperAttentionForwards, hopperAttentionBackwards;
    /** device.hopper(), asked once: whether the bf16 GEMMs and the flash attention may take the sm_90a kernels. */
    private final boolean hopper;
    /** The Hopper kernels' tensor maps (GEMM operands, attention's q/k/v), encoded once each; cleared when memory goes back to the driver. */
    private final TensorMapCache tensorMaps;

    /** GPU {@code ordinal} through JCuda, fp32; fails with the fix when there is no GPU or no kernels. */
    public CudaBackend(int ordinal, GemmPath path) { this(new JCudaRuntime(ordinal), path); }

    /** GPU {@code ordinal} through JCuda in {@code precision} (BF16: bf16 storage, see the class comment). */
    public CudaBackend(int ordinal, GemmPath path, Precision precision) {
        this(new JCudaRuntime(ordinal), path, precision, true);
    }

    public CudaBackend() { this(0, GemmPath.KERNELS); }

    /** Our kernels on the emulated device, fp32 (slow: each CUDA thread is a fiber). */
    public static CudaBackend emulated() { return emulated(Precision.FP32); }

    /** Our kernels on the emulated device in {@code precision}. */
    public static CudaBackend emulated(Precision precision) { return emulated(precision, false); }

    /**
     * Our kernels on the emulated device in {@code precision}; {@code hopper}: the device answers as
     * a Hopper, so the backend takes the sm_90a kernels (wgmma, TMA) where it would on an H100/H200.
     */
    public static CudaBackend emulated(Precision precision, boolean hopper) {
        return new CudaBackend(EmulatedRuntime.open(hopper), GemmPath.KERNELS, precision, true);
    }

    /**
     * A backend on {@code device}, which it owns from now on: closed with the backend, or at once
     * (with everything taken so far) when a later step of this constructor fails.
     */
    public CudaBackend(DeviceRuntime device, GemmPath path) { this(device, path, Precision.FP32, true); }

    /** {@link #CudaBackend(DeviceRuntime, GemmPath)} in {@code precision}. */
    public CudaBackend(DeviceRuntime device, GemmPath path, Precision precision) { this(device, path, precision, true); }

    /**
     * One of several backends on one device (each with its own stream, memory and scratch: k mesh
     * ranks on one GPU); closing it leaves the device open for the others and its owner. fp32 (a
     * mesh trains in fp32).
     */
    public static CudaBackend sharing(DeviceRuntime device) {
        return new CudaBackend(device, GemmPath.KERNELS, Precision.FP32, false);
    }

    private CudaBackend(DeviceRuntime device, GemmPath path, Precision precision, boolean ownsDevice) {
        this.device = device;
        this.ownsDevice = ownsDevice;
        this.precision = precision;
        this.hopper = device.hopper();
        this.tensorMaps = new TensorMapCache(device);
        DeviceStream s = null;
        CachingAllocator al = null;
        DeviceEvent ev = null;
        try {
            if (path == GemmPath.CUBLASLT && precision != Precision.FP32)
                throw new IllegalArgumentException("the cuBLASLt GEMM path is fp32 only (it is the fp32 peer of our kernels; "
                        + "in bf16 ours are measured beside cuBLASLt by MmaGemmBench); use --precision fp32 or our kernels");
            if (path == GemmPath.CUBLASLT) CublasLt.requireLoadable(device);
            s = device.createStream();
            al = new CachingAllocator(device, tensorMaps::clear);   // closing it frees every register below too
            sumSquares = al.allocate(2);
            loss = al.allocate(2);
            gradNormSquared = al.allocate(2);
            adamwScalars = al.allocate(ADAMW_SCALARS);
            ev = device.createEvent();
            ownStream = s;
            stream = s;
            allocator = al;
            stagingFree = ev;
            k = new Kernels(device.launcher(), s);
            lt = path == GemmPath.CUBLASLT ? new CublasLt(this) : null;
        } catch (RuntimeException | LinkageError e) {
            closeAll(e, ev, al, s, ownsDevice ? device : null);
            throw e;
        }
    }

    /** Closes each of {@code parts} (nulls skipped), adding later failures to {@code first}'s suppressed list. */
    private static void closeAll(Throwable first, AutoCloseable... parts) {
        for (AutoCloseable c : parts)
            if (c != null)
                try {
                    c.close();
                } catch (Exception | LinkageError e) {
                    if (first != null) first.addSuppressed(e);
                }
    }

    @Override public String name() {
        return device instanceof EmulatedRuntime ? hopper ? "cuda-emu-hopper" : "cuda-emu" : "cuda";
    }

    @Override public Precision precision() { return precision; }

    /** The device under this backend (a GPU or the emulator). */
    public DeviceRuntime device() { return device; }

    /** The stream this backend's work is queued on now: its own, or the one of an open {@link #onStream}. */
    public DeviceStream stream() { return stream; }

    /** Restores the backend's previous stream; see {@link #onStream}. */
    public interface StreamScope extends AutoCloseable {
        @Override void close();
    }

    /**
     * Queues this backend's work on {@code s}, another stream of the same device, until the
     * returned scope closes: how an executor puts a task's work on its queue's stream (the
     * caller orders the streams with events). The backend's scratch buffers and device
     * registers stay shared, so work on two streams must not use the same ones at once; the
     * calls that read a register (sumSquares, the loss) wait for it before returning. Like the
     * backend, not for concurrent use by several threads.
     */
    public StreamScope onStream(DeviceStream s) {
        if (lt != null)
            throw new IllegalStateException("the cuBLASLt path is bound to the backend's own stream (its workspace and "
                    + "handle); run other streams with GemmPath.KERNELS");
        DeviceStream before = stream;
        Kernels kb = k;
        stream = s;
        k = new Kernels(device.launcher(), s);
        return () -> {
            stream = before;
            k = kb;
        };
    }

    /** Makes this GPU's context current on the calling thread: needed when one thread drives several GPUs. */
    public void makeCurrent() { device.makeCurrent(); }

    public CachingAllocator allocator() { return allocator; }

    Kernels kernels() { return k; }
    static DeviceStorage dev(Tensor t) {
        if (!(t.storage() instanceof DeviceStorage d))
            throw new IllegalArgumentException("tensor " + t + " is not in GPU memory; allocate it with the cuda backend");
        return d;
    }

    /**
     * Device address of a float32 tensor's first element (0 for null: the kernels' "absent");
     * refuses a BF16 tensor, which the fp32 kernels would misread.
     */
    static long a(Tensor t) {
        if (t == null) return 0L;
        if (t.dtype() != DType.F32)
            throw new IllegalArgumentException("tensor " + t + " holds " + t.dtype()
                    + "; this op's kernel computes on F32 tensors: cast it to F32 first");
        return raw(t);
    }

    /** Device address of a tensor's first element, any element type (0 for null). */
    static long raw(Tensor t) { return t == null ? 0L : dev(t).address() + t.offset() * t.dtype().size; }

    /** {@link #raw}, 0 for null (absent). */
    private static long rawOrNull(Tensor t) { return t == null ? 0L : raw(t); }

    /**
     * The storage type an op's activations and weights share, as "run the bf16 kernels": true
     * when each of {@code ts} (nulls skipped: absent) is BF16, false when each is F32; a mixture
     * is refused naming both tensors. {@code names}: the tensors' names, comma-separated.
     */
    static boolean bf16Storage(String op, String names, Tensor... ts) {
        String[] n = names.split(",\\s*");
        int first = -1;
        for (int i = 0; i < ts.length; i++) {
            if (ts[i] == null) continue;
            if (ts[i].dtype() != DType.F32 && ts[i].dtype() != DType.BF16)
                throw new IllegalArgumentException(op + ": " + n[i] + " holds " + ts[i].dtype() + "; the kernels take F32 or BF16");
            if (first < 0) first = i;
            else if (ts[i].dtype() != ts[first].dtype())
                throw new IllegalArgumentException(op + ": " + n[i] + " is " + ts[i].dtype() + " but " + n[first] + " is "
                        + ts[first].dtype() + "; its activations and weights must share one element type (all BF16 for "
                        + "the bf16 recipe, all F32 for fp32): allocate or cast them to match");
        }
        return first >= 0 && ts[first].dtype() == DType.BF16;
    }

    /**
     * Address of a tensor that stays float32 in both recipes (statistics, parameter gradients,
     * targets; 0 for null); refuses another type naming it.
     */
    private static long f32(String op, String name, Tensor t) {
        if (t != null && t.dtype() != DType.F32)
            throw new IllegalArgumentException(op + ": " + name + " holds " + t.dtype() + "; statistics, parameter gradients "
                    + "and targets stay F32 in both recipes: allocate it F32");
        return a(t);
    }

    private static void sameSize(Tensor x, Tensor y, String op) {
        if (x.size() != y.size()) throw new IllegalArgumentException(op + ": sizes differ, " + x + " vs " + y);
    }

    // ---- memory ---------------------------------------------------------------------------

    @Override public Tensor allocate(int... shape) { return allocate(DType.F32, shape); }

    @Override public Tensor allocate(DType dtype, int... shape) {
        Tensor t = new Tensor(allocator.allocate(Tensor.requireStorable(dtype), Tensor.sizeOf(shape)), 0, shape);
        zero(t);
        return t;
    }

    @Override public void free(Tensor t) { dev(t).close(); }

    /** The device's free memory; the emulated device's is host memory, so what the host has available bounds it too. */
    @Override public long freeBytes() {
        long free = device.freeBytes();
        return device instanceof EmulatedRuntime ? Math.min(free, vit22b.tensor.HostStorage.availableBytes()) : free;
    }

    /**
     * Copies through the page-locked staging buffer on the backend's stream: ordered with the
     * kernels before and after it, and asynchronous for the host (the staging buffer is only
     * rewritten once its previous copy has run).
     */
    @Override public void upload(Tensor dst, float[] src) {
        if (src.length != dst.size()) throw new IllegalArgumentException("upload of " + src.length + " floats into " + dst);
        notCapturing("upload");
        if (dst.dtype() != DType.F32) {   // through float32 and the cast kernel: one rounding, the device's
            Tensor f = allocate(dst.shape());
            try {
                upload(f, src);
                cast(dst, f);
            } finally {
                free(f);
            }
            return;
        }
        long base = a(dst);
        for (int off = 0; off < src.length; ) {
            int n = stagingFloats(src.length - off);
            stagingFree.synchronize();
            MemorySegment.copy(src, off, staging, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
            device.copyToDevice(base + (long) off * Float.BYTES, staging, (long) n * Float.BYTES, stream);
            stagingFree.record(stream);
            off += n;
        }
    }

    /**
     * Streams the bytes through two page-locked buffers in turn (the host reads the next chunk of
     * the file while the device copies the last), in chunks of {@link #UPLOAD_CHUNK_BYTES}. The
     * same type goes straight into dst; another is copied into a chunk-sized device buffer and
     * converted there by the cast kernels (f32_to_bf16 rounds as {@link vit22b.tensor.Bf16#fromFloat}).
     */
    @Override public void upload(Tensor dst, MemorySegment src, DType srcType) {
        Backend.requireUpload(dst, src, srcType);
        notCapturing("upload");
        if (uploadStaging == null) uploadStaging = new StagingPair(device, uploadChunkBytes);
        Chunks chunks = new Chunks(dst.size(), srcType.size, uploadStaging.bytes());
        boolean convert = srcType != dst.dtype();
        DeviceStorage landing = convert ? allocator.allocate(srcType, Math.max(1, Math.min(chunks.perChunk(), dst.size()))) : null;
        try {
            for (long i = 0; i < chunks.count(); i++) {
                long from = chunks.from(i), n = chunks.length(i), bytes = n * srcType.size;
                MemorySegment buffer = uploadStaging.take();
                MemorySegment.copy(src, from * srcType.size, buffer, 0, bytes);
                long at = raw(dst) + from * dst.dtype().size;
                device.copyToDevice(convert ? landing.address() : at, buffer, bytes, stream);
                uploadStaging.queued(stream);
                if (convert && dst.dtype() == DType.BF16) k.toBf16(at, landing.address(), n);
                else if (convert) k.fromBf16(at, landing.address(), n);
            }
        } finally {
            if (landing != null) landing.close();   // back to the cache; its next use is queued after these kernels
        }
    }

    /** Test hook: the byte uploads' chunk size from now on (small, to cross chunk edges in small tensors). */
    void uploadChunkBytes(long bytes) {
        if (uploadStaging != null) uploadStaging.close();
        uploadStaging = null;
        uploadChunkBytes = bytes;
    }

    @Override public float[] download(Tensor src) {
        notCapturing("download");
        if (src.dtype() != DType.F32) {
            Tensor f = allocate(src.shape());
            try {
                cast(f, src);
                return download(f);
            } finally {
                free(f);
            }
        }
        float[] out = new float[Math.toIntExact(src.size())];
        long base = a(src);
        for (int off = 0; off < out.length; ) {
            int n = stagingFloats(out.length - off);
            stagingFree.synchronize();   // an upload queued on another stream (onStream) may still read it
            device.copyToHost(staging, base + (long) off * Float.BYTES, (long) n * Float.BYTES, stream);
            stream.synchronize();
            MemorySegment.copy(staging, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, out, off, n);
            off += n;
        }
        return out;
    }

    /** How many of {@code want} floats fit the staging buffer, grown (up to 64 MiB) when it is smaller. */
    private int stagingFloats(long want) {
        long bytes = Math.min(want * Float.BYTES, STAGING_BYTES);
        if (staging == null || staging.byteSize() < bytes) {
            stagingFree.synchronize();
            if (staging != null) device.freeHost(staging);
            staging = null;
            staging = device.allocateHost(Math.max(bytes, 1 << 16));
        }
        return (int) Math.min(want, staging.byteSize() / Float.BYTES);
    }

    private void notCapturing(String what) {
        if (stream.capturing())
            throw new IllegalStateException(what + " while the backend's stream is being captured into a graph: "
                    + "a graph replays device work only; move host transfers outside the capture");
    }

    @Override public void zero(Tensor t) {
        if (t.dtype() == DType.F32) device.fill32(a(t), 0, t.size(), stream);
        else k.zero16(raw(t), t.size());
    }

    @Override public void copy(Tensor dst, Tensor src) {
        sameSize(dst, src, "copy");
        if (dst.dtype() != src.dtype())
            throw new IllegalArgumentException("copy " + src + " -> " + dst + ": element types differ (cast converts types)");
        device.copy(raw(dst), raw(src), src.bytes(), stream);
    }

    @Override public void cast(Tensor dst, Tensor src) {
        sameSize(dst, src, "cast");
        if (dst.dtype() == src.dtype()) copy(dst, src);
        else if (dst.dtype() == DType.BF16) k.toBf16(raw(dst), a(src), src.size());
        else k.fromBf16(a(dst), raw(src), src.size());
    }

    @Override public void roundToBf16(Tensor t) { k.roundBf16(a(t), t.size()); }

    /** How many bf16 GEMMs ran on the tensor cores (either kernel) so far: how a test sees the bf16 path taken. */
    public long tensorCoreGemms() { return mmaGemms + wgmmaGemms; }

    /** How many of them ran on gemm_bf16_wgmma (only on a Hopper; see {@link #nativeGemm}). */
    public long wgmmaGemms() { return wgmmaGemms; }

    /** How many in-projections ran as one GEMM with their epilogue fused (gemm_bf16_wgmma_qk; {@link #inProjectionForward}). */
    public long fusedInProjections() { return fusedInProjections; }

    /** The tensor maps gemm_bf16_wgmma's launches take, encoded once each for this backend's device. */
    public TensorMapCache tensorMaps() { return tensorMaps; }

    /**
     * Which kernels this backend's bf16 GEMMs take, on which device, in words ({@link #nativeGemm}'s
     * rule): logged once when the backend opens (Backends.open).
     */
    public String bf16GemmKernels() {
        return bf16GemmKernel(hopper) + " on " + device.description() + (hopper ? "; gemm_bf16_mma (mma.sync) for operands "
                + "TMA cannot move (not 16-byte aligned, or rows not a multiple of 8 elements)" : "");
    }

    /** The kernel the bf16 GEMMs take on a device that is ({@code hopper}) or is not a Hopper (also for vit doctor). */
    public static String bf16GemmKernel(boolean hopper) {
        return hopper ? "gemm_bf16_wgmma (TMA + wgmma, sm_90a)" : "gemm_bf16_mma (mma.sync, sm_80)";
    }

    @Override public void add(Tensor dst, Tensor src) {
        sameSize(dst, src, "add");
        k.add(bf16Storage("add", "dst, src", dst, src), raw(dst), raw(src), dst.size());
    }

    @Override public void scale(Tensor t, float s) { k.scale(bf16Storage("scale", "t", t), raw(t), s, t.size()); }

    @Override public double sumSquares(Tensor t) {
        zeroScalar(sumSquares);
        k.sumSquares(bf16Storage("sumSquares", "t", t), sumSquares.address(), raw(t), t.size());
        return readScalar(sumSquares);
    }

    private void zeroScalar(DeviceStorage d) {
        device.fill32(d.address(), 0, 2, stream);
    }

    /** The double a reduction left at {@code d} (waits for it). */
    private double readScalar(DeviceStorage d) {
        notCapturing("reading a reduction's result");
        stagingFloats(2);
        stagingFree.synchronize();
        device.copyToHost(staging, d.address(), Double.BYTES, stream);
        stream.synchronize();
        return staging.get(ValueLayout.JAVA_DOUBLE_UNALIGNED, 0);
    }

    /**
     * A scratch buffer of at least {@code floats}, kept for the backend's life so that a captured
     * graph can keep using it. Growing allocates (refused during capture: run the work once
     * eagerly first); the outgrown buffer is kept too, since an earlier graph may use it.
     */
    private long scratch(Scratch role, long floats) {
        DeviceStorage s = scratch.get(role);
        if (s == null || s.elements() < floats) {
            if (s != null) retired.add(s);
            s = allocator.allocate(floats);
            scratch.put(role, s);
        }
        return s.address();
    }

    @Override public void synchronize() { stream.synchronize(); }

    // ---- GEMM helpers (row-major; see gemm.cu for the stride convention) --------------------

    /**
     * out (R, N) (+)= in (R, K) @ w^T, w (N, K), then bias and residual (see gemm.cu). The GELU
     * epilogue is the in-projection epilogue's own launch ({@link #inProjectionEpilogueForward}).
     * bf16: in and w hold bf16 values (the tensor-core path, when their rows allow it).
     */
    private void gemmNT(long out, long ldc, long in, long w, int R, int N, int K, boolean acc,
                        long bias, long res, long ldr, int resRows) {
        if (lt == null) {
            k.gemm(in, K, 1, w, 1, K, out, ldc, R, N, K, acc, bias, res, ldr, resRows, 0, 0, 0, 0, 0);
            return;
        }
        boolean inPlaceResidual = res == out && ldr == ldc && resRows >= R;   // out aliases x: C already holds it
        lt.matmul(out, ldc, in, K, false, w, K, true, R, N, K, acc || inPlaceResidual ? 1f : 0f, CublasLt.Type.F32);
        if (inPlaceResidual) res = 0;
        if (bias != 0 || res != 0)
            k.gemmEpilogue(out, ldc, R, N, bias, res, ldr, resRows, 0, 0, 0, 0, 0);
    }

    /** din (R, K) += dout (R, N) @ w (N, K); dout row stride ldd. */
    private void gemmNN(long din, long dout, long ldd, long w, int R, int N, int K) {
        if (lt != null) lt.matmul(din, K, dout, ldd, false, w, K, false, R, K, N, 1f, CublasLt.Type.F32);
        else k.gemm(dout, ldd, 1, w, K, 1, din, K, R, K, N, true, 0, 0, 0, 1, 0, 0, 0, 0, 0);
    }

    /** dw (N, K) += dout^T (N, R) @ in (R, K); dout row stride ldd. */
    private void gemmTN(long dw, long dout, long ldd, long in, int R, int N, int K) {
        if (lt != null) lt.matmul(dw, K, dout, ldd, true, in, K, false, N, K, R, 1f, CublasLt.Type.F32);
        else k.gemm(dout, 1, ldd, in, K, 1, dw, K, N, K, R, true, 0, 0, 0, 1, 0, 0, 0, 0, 0);
    }

    // ---- native bf16 GEMMs (BF16 tensors) -------------------------------------------------

    /** A tensor of a native bf16 op with its role: its name in messages and the type the recipe gives it. */
    private record Role(String name, Tensor t, DType want) {}

    private static Role bf16(String name, Tensor t) { return new Role(name, t, DType.BF16); }

    private static Role f32(String name, Tensor t) { return new Role(name, t, DType.F32); }

    /**
     * Whether {@code op} runs natively in bf16: some tensor whose recipe type is BF16 (activations,
     * weights, biases) is BF16. Then every role (nulls skipped) must hold its type, or a one-line
     * refusal names the tensor and the fix; false leaves the float32 path, which refuses BF16.
     */
    private boolean nativeBf16(String op, Role... roles) {
        boolean any = false;
        for (Role r : roles) any |= r.want() == DType.BF16 && r.t() != null && r.t().dtype() == DType.BF16;
        if (!any) return false;
        for (Role r : roles)
            if (r.t() != null && r.t().dtype() != r.want())
                throw new IllegalArgumentException(op + ": " + r.name() + " " + r.t() + " holds " + r.t().dtype()
                        + " beside BF16 operands; in bf16 activations, weights and biases are BF16 and parameter "
                        + "gradients F32: allocate " + r.name() + " as " + r.want());
        if (lt != null)
            throw new IllegalArgumentException(op + ": the cuBLASLt path runs float32 GEMMs only; run BF16 tensors "
                    + "with GemmPath.KERNELS");
        return true;
    }

    /**
     * One GEMM on the tensor cores over bf16 tensors as they are (no packing), counted; the one
     * place that picks the kernel. On a Hopper ({@link DeviceRuntime#hopper}) gemm_bf16_wgmma where
     * TMA can move the operands (16-byte aligned A and B, rows of a multiple of 8 elements: what
     * gemm_bf16_mma's 16-byte loads need too, {@link Kernels#vectorLoads}), its tensor maps from
     * {@link #tensorMaps}; gemm_bf16_mma otherwise, also on a Hopper for the other shapes (a normal
     * case, as the head dims the flash attention has no kernel for: the backend's line at opening
     * says so, nothing per call).
     */
    private void nativeGemm(MmaGemm.Operands o, MmaGemm.Epilogue e) {
        if (hopper && Kernels.vectorLoads(o)) {
            k.gemmBf16Wgmma(tensorMaps, o, e);
            wgmmaGemms++;
        } else {
            k.gemmBf16Mma(o, e);
            mmaGemms++;
        }
    }

    /** out (R, N) = in (R, K) w^T + bias (+ res (resRows, N) at row m % resRows): bf16, rounded once. */
    private void nativeForward(Tensor out, Tensor in, Tensor w, Tensor bias, Tensor res, int resRows) {
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        nativeGemm(new MmaGemm.Operands(MmaGemm.Form.NT, raw(in), K, raw(w), K, raw(out), N, R, N, K),
                MmaGemm.Epilogue.plain(true).withBias(raw(bias)).withResidual(raw(res), N, resRows));
    }

    /** din (bf16) += dout w; dw (fp32) += dout^T in with dbias (fp32) += dout's column sums fused. */
    private void nativeBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        if (din != null)
            nativeGemm(new MmaGemm.Operands(MmaGemm.Form.NN, raw(dout), N, raw(w), K, raw(din), K, R, K, N),
                    MmaGemm.Epilogue.plain(true).accumulate());
        nativeGemm(new MmaGemm.Operands(MmaGemm.Form.TN, raw(dout), N, raw(in), K, a(dw), K, N, K, R),
                MmaGemm.Epilogue.plain(false).accumulate().withBiasGradient(a(dbias)));
    }

    // ---- patch embedding ------------------------------------------------------------------

    @Override public void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) {
        int B = images.dim(0), C = images.dim(1), S = images.dim(2), D = w.dim(0), K = C * patch * patch;
        int N = (S / patch) * (S / patch);
        if (nativeBf16("patchEmbedForward", bf16("out", out), f32("images", images), bf16("w", w), bf16("b", b),
                bf16("pos", pos))) {   // the pixels are rounded to bf16 as the GEMM's operand
            long cols = scratch(Scratch.IM2COL, ((long) B * N * K + 1) / 2);
            k.im2col(cols, true, a(images), B, C, S, patch);
            nativeGemm(new MmaGemm.Operands(MmaGemm.Form.NT, cols, K, raw(w), K, raw(out), D, B * N, D, K),
                    MmaGemm.Epilogue.plain(true).withBias(raw(b)).withResidual(raw(pos), D, N));
            return;
        }
        long cols = scratch(Scratch.IM2COL, (long) B * N * K);
        k.im2col(cols, false, a(images), B, C, S, patch);
        gemmNT(a(out), D, cols, a(w), B * N, D, K, false, a(b), a(pos), D, N);
    }

    @Override public void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) {
        int B = images.dim(0), C = images.dim(1), S = images.dim(2), D = dw.dim(0), K = C * patch * patch;
        int N = (S / patch) * (S / patch);
        if (nativeBf16("patchEmbedBackward", f32("dw", dw), f32("db", db), f32("dpos", dpos), bf16("dout", dout),
                f32("images", images))) {
            long cols = scratch(Scratch.IM2COL, ((long) B * N * K + 1) / 2);
            k.im2col(cols, true, a(images), B, C, S, patch);
            nativeGemm(new MmaGemm.Operands(MmaGemm.Form.TN, raw(dout), D, cols, K, a(dw), K, D, K, B * N),
                    MmaGemm.Epilogue.plain(false).accumulate().withBiasGradient(a(db)));
            if (dpos != null) k.posGrad(a(dpos), raw(dout), true, B, (long) N * D);
            return;
        }
        long cols = scratch(Scratch.IM2COL, (long) B * N * K);
        k.im2col(cols, false, a(images), B, C, S, patch);
        gemmTN(a(dw), a(dout), D, cols, B * N, D, K);
        if (db != null) k.colSum(false, false, a(db), a(dout), (long) B * N, D, D);
        if (dpos != null) k.posGrad(a(dpos), a(dout), false, B, (long) N * D);
    }

    // ---- normalisation --------------------------------------------------------------------

    @Override public void normForward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps) {
        int W = Math.toIntExact(scale.size());
        boolean bf = bf16Storage("normForward", "out, x, scale, bias", out, x, scale, bias);
        k.normFwd(bf, raw(out), f32("normForward", "stats", stats), raw(x), raw(scale), rawOrNull(bias),
                Math.toIntExact(x.size() / W), W, centered, eps);
    }

    @Override public void normBackward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale,
                                       Tensor stats, boolean centered) {
        int W = Math.toIntExact(scale.size()), R = Math.toIntExact(x.size() / W);
        boolean bf = bf16Storage("normBackward", "dx, dout, x, scale", dx, dout, x, scale);
        long st = f32("normBackward", "stats", stats);
        k.normBwdDx(bf, raw(dx), raw(dout), raw(x), raw(scale), st, R, W, centered);
        k.normBwdParams(bf, f32("normBackward", "dscale", dscale), f32("normBackward", "dbias", dbias), raw(dout), raw(x), st, R, W);
    }

    // ---- linear layers and activations ----------------------------------------------------

    @Override public void linearForward(Tensor out, Tensor in, Tensor w, Tensor bias) {
        if (nativeBf16("linearForward", bf16("out", out), bf16("in", in), bf16("w", w), bf16("bias", bias))) {
            nativeForward(out, in, w, bias, null, 1);
            return;
        }
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        gemmNT(a(out), N, a(in), a(w), R, N, K, false, a(bias), 0, 0, 1);
    }

    @Override public void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        if (nativeBf16("linearBackward", bf16("din", din), f32("dw", dw), f32("dbias", dbias), bf16("dout", dout),
                bf16("in", in), bf16("w", w))) {
            nativeBackward(din, dw, dbias, dout, in, w);
            return;
        }
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        if (din != null) gemmNN(a(din), a(dout), N, a(w), R, N, K);
        gemmTN(a(dw), a(dout), N, a(in), R, N, K);
        if (dbias != null) k.colSum(false, false, a(dbias), a(dout), R, N, N);
    }

    @Override public void geluForward(Tensor out, Tensor in, GeluKind kind) {
        sameSize(out, in, "geluForward");
        k.geluFwd(bf16Storage("geluForward", "out, in", out, in), raw(out), raw(in), in.size(), kind.ordinal());
    }

    @Override public void geluBackward(Tensor din, Tensor dout, Tensor in, GeluKind kind) {
        sameSize(din, in, "geluBackward");
        k.geluBwd(bf16Storage("geluBackward", "din, dout, in", din, dout, in), raw(din), raw(dout), raw(in), in.size(),
                kind.ordinal());
    }

    @Override public void broadcastRows(Tensor dst, Tensor src) {
        int W = Math.toIntExact(src.size());
        k.broadcastRows(bf16Storage("broadcastRows", "dst, src", dst, src), raw(dst), raw(src), dst.size() / W, W);
    }

    /** dst F32 (a parameter gradient) from src of either type, or BF16 from BF16 (rounded once per column). */
    @Override public void sumRows(Tensor dst, Tensor src) {
        int W = Math.toIntExact(dst.size());
        boolean srcBf16 = bf16Storage("sumRows", "src", src);
        if (dst.dtype() == DType.BF16 && !srcBf16)
            throw new IllegalArgumentException("sumRows: dst is BF16 but src is F32; sum an F32 src into an F32 dst "
                    + "(or make src BF16)");
        k.colSum(srcBf16, bf16Storage("sumRows", "dst", dst), raw(dst), raw(src), src.size() / W, W, W);
    }

    /**
     * Head-major shapes come from the sizes, as the CPU backend takes them: N = token rows / B,
     * hd = head-major size / (rows H), so a head-major tensor of any shape with that size works,
     * e.g. a (rows, width) tensor for one "head" of MLP units.
     */
    @Override public void toHeads(Tensor dst, Tensor src, int col, int batch, int heads) {
        int rows = src.dim(0), N = rows / batch, hd = Math.toIntExact(dst.size() / ((long) rows * heads));
        k.toHeads(bf16Storage("toHeads", "dst, src", dst, src), raw(dst), raw(src), src.dim(1), col, batch, N, heads, hd);
    }

    @Override public void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads) {
        int rows = dst.dim(0), N = rows / batch, hd = Math.toIntExact(src.size() / ((long) rows * heads));
        k.fromHeads(bf16Storage("fromHeads", "dst, src", dst, src), raw(dst), dst.dim(1), col, raw(src), batch, N, heads, hd);
    }

    // ---- the parallel block ---------------------------------------------------------------

    /**
     * bf16 on a Hopper: the GEMM pre = y wIn^T with the whole epilogue fused (gemm_bf16_wgmma_qk): GELU of
     * the MLP columns into ag, q and k QK-normalised and q, k, v scattered head-major, qkStats, pre still
     * written for backward; the same function of the same rounded pre as the two steps (GELU and
     * qknormFwd read the stored pre; pre and v bitwise, ag by the same expression, q and k up to the order of the statistics' fp32 sums).
     * Elsewhere, and on a Hopper for shapes the kernel does not take ({@link Kernels#wgmmaQkRefusal}: a head
     * that does not lie in one 256-column tile, or q's column not a multiple of hd; operands TMA cannot move),
     * the two steps (Backend's default): a shape choice, not a refusal, counted by {@link #fusedInProjections}.
     * gemm_bf16_mma (sm_80) has no fused variant: its two steps are the default too.
     */
    @Override public void inProjectionForward(InProj s, Tensor pre, Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale,
                                              Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats, GeluKind gelu, boolean centered) {
        if (hopper && nativeBf16("inProjectionForward", bf16("pre", pre), bf16("y", y), bf16("wIn", wIn), bf16("bMlp", bMlp),
                bf16("qScale", qScale), bf16("kScale", kScale), bf16("ag", ag), bf16("q", q), bf16("k", k), bf16("v", v),
                f32("qkStats", qkStats))) {
            int D = wIn.dim(1), cols = s.preCols();
            MmaGemm.Operands o = new MmaGemm.Operands(MmaGemm.Form.NT, raw(y), D, raw(wIn), D, raw(pre), cols, s.rows(), cols, D);
            MmaGemm.Gelu g = new MmaGemm.Gelu(false, gelu.ordinal(), 0, s.mlp(), raw(ag) + 2L * s.geluCol(), s.agCols(), raw(bMlp));
            MmaGemm.QkNorm qn = new MmaGemm.QkNorm(raw(qScale), raw(kScale), raw(q), raw(k), raw(v), a(qkStats), s.qCol(), s.tokens(),
                    s.heads(), s.headDim(), centered, ModelConfig.EPS);
            if (Kernels.vectorLoads(o) && Kernels.wgmmaQkRefusal(o, g, qn) == null) {
                this.k.gemmBf16WgmmaQk(tensorMaps, o, g, qn);
                wgmmaGemms++;
                fusedInProjections++;
                return;
            }
        }
        Backend.super.inProjectionForward(s, pre, y, wIn, bMlp, qScale, kScale, ag, q, k, v, qkStats, gelu, centered);
    }

    @Override public void inProjectionEpilogueForward(InProj s, Tensor pre, Tensor bMlp, Tensor qScale, Tensor kScale,
                                                      Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats,
                                                      GeluKind gelu, boolean centered) {
        String op = "inProjectionEpilogueForward";
        boolean bf = bf16Storage(op, "pre, bMlp, qScale, kScale, ag, q, k, v", pre, bMlp, qScale, kScale, ag, q, k, v);
        int cols = s.preCols(), M = s.mlp();
        long agGelu = raw(ag) + (long) s.geluCol() * ag.dtype().size;
        // ag[:, W:W+M] = GELU(pre[:, :M] + bMlp) over pre's MLP columns: the GEMM's epilogue alone (fp32), or
        // its bf16 counterpart (fp32 GELU, one rounding into ag)
        if (bf) this.k.geluColsBf16(agGelu, s.agCols(), raw(pre), cols, raw(bMlp), s.rows(), M, gelu.ordinal());
        else this.k.gemmEpilogue(raw(pre), cols, s.rows(), M, 0, 0, 0, 1, agGelu, s.agCols(), M, raw(bMlp), gelu.ordinal());
        this.k.qknormFwd(bf, raw(pre), cols, s.qCol(), raw(qScale), raw(kScale), raw(q), raw(k), raw(v), f32(op, "qkStats", qkStats),
                s.batch(), s.tokens(), s.heads(), s.headDim(), centered, ModelConfig.EPS);
    }

    @Override public void inProjectionEpilogueBackward(InProj s, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor pre,
                                                       Tensor bMlp, Tensor qScale, Tensor kScale, Tensor qkStats,
                                                       Tensor dpre, Tensor dbMlp, Tensor dqScale, Tensor dkScale,
                                                       GeluKind gelu, boolean centered) {
        String op = "inProjectionEpilogueBackward";
        boolean bf = bf16Storage(op, "dag, dq, dk, dv, pre, bMlp, qScale, kScale, dpre", dag, dq, dk, dv, pre, bMlp, qScale,
                kScale, dpre);
        int cols = s.preCols(), M = s.mlp(), T = s.rows();
        // dbMlp from the fp32 products, before dpre's rounding (as the CPU reference sums them)
        k.geluBwdCols(bf, raw(dpre), cols, raw(pre), raw(bMlp), raw(dag), s.agCols(), s.geluCol(), T, M, gelu.ordinal(),
                f32(op, "dbMlp", dbMlp));
        k.qknormBwd(bf, raw(dpre), cols, s.qCol(), raw(pre), raw(dq), raw(dk), raw(dv), raw(qScale), raw(kScale),
                f32(op, "qkStats", qkStats), f32(op, "dqScale", dqScale), f32(op, "dkScale", dkScale), s.batch(), s.tokens(),
                s.heads(), s.headDim(), centered);
    }

    /**
     * Attention dispatches on its tensors' element type. F32: attention.cu's float kernels, as
     * always. BF16 q, k, v, out (and dout, dq, dk, dv; lse stays F32): bf16 storage, fp32 softmax
     * state and sums, each stored element rounded once, on one of three kernel sets chosen by
     * {@link #attentionKernels} and nowhere else: on a Hopper ({@code device.hopper()}: a compute
     * capability 9.0 GPU, or the emulated device opened as one) attention_wgmma.cu's forward (wgmma +
     * TMA, FlashAttention-3's structure) at any head dim that is a multiple of 8 up to 256 (ViT-e's
     * 112 too: run at the padded 128); elsewhere, and at head dims the Hopper kernel does not take,
     * the mma.sync flash kernels (attention_bf16.cu) at the head dims they are built for (64, 128,
     * 256); both need out's row stride a multiple of 8 elements and every tensor 16-byte aligned
     * (their 16-byte copies, TMA). Otherwise attention.cu's bf16 instantiation, which takes any head
     * dim up to 256 and any stride. All compute the same function; the flash kernels also round P
     * and dS to bf16 for their second products (DESIGN.md's tolerances). A shape the flash kernels
     * cannot take is a normal case (the small models' head dim 16 off a Hopper), not a refusal, so
     * nothing is logged. {@link #tensorCoreAttentions} counts the flash calls (either set) for
     * tests, {@link #hopperAttentionForwards} those on attention_wgmma.cu.
     */
    @Override public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor kk, Tensor v) {
        boolean bf16 = attentionBf16("attentionForward", lse, List.of("q", "k", "v", "out"), q, kk, v, out);
        int B = q.dim(0), H = q.dim(1), Nq = q.dim(2), hd = q.dim(3), Nk = kk.dim(2);
        long ldo = out.size() / ((long) B * Nq);
        FlashAttention.Shape sh = new FlashAttention.Shape(B, H, Nq, Nk, hd);
        switch (bf16 ? attentionKernels(sh, false, ldo, q, kk, v, out) : AttentionKernels.SIMT) {
            case WGMMA -> {
                k.flashAttnFwdWgmma(tensorMaps, sh, flashForward(out, ldo, lse, q, kk, v));
                hopperAttentionForwards++;
            }
            case MMA -> k.flashAttnFwd(sh, flashForward(out, ldo, lse, q, kk, v));
            case SIMT -> k.attnFwd(bf16, raw(out), ldo, raw(lse), raw(q), raw(kk), raw(v), B * H, H, Nq, Nk, hd,
                    (float) (1.0 / Math.sqrt(hd)));
        }
    }

    /**
     * Accumulates dq, dk, dv (the contract); the kernels as {@link #attentionKernels} chooses them:
     * on a Hopper attention_wgmma_bwd.cu's backward (TMA + wgmma, one pass, dq summed in an fp32
     * scratch) at any head dim that is a multiple of 8 up to 128 ({@link #hopperAttentionBackwards}
     * counts those), else as {@link #attentionForward} says (hd 256 on a Hopper: the mma.sync backward).
     */
    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                            Tensor q, Tensor kk, Tensor v) {
        boolean bf16 = attentionBf16("attentionBackward", lse, List.of("q", "k", "v", "out", "dout", "dq", "dk", "dv"),
                q, kk, v, out, dout, dq, dk, dv);
        int B = q.dim(0), H = q.dim(1), Nq = q.dim(2), hd = q.dim(3), Nk = kk.dim(2);
        long ldo = out.size() / ((long) B * Nq);
        long delta = scratch(Scratch.ATTN_DELTA, (long) B * H * Nq);
        FlashAttention.Shape sh = new FlashAttention.Shape(B, H, Nq, Nk, hd);
        AttentionKernels path = bf16 ? attentionKernels(sh, true, ldo, q, kk, v, out, dout, dq, dk, dv) : AttentionKernels.SIMT;
        if (path != AttentionKernels.SIMT) {
            FlashAttention.Backward fb = new FlashAttention.Backward(flashForward(out, ldo, lse, q, kk, v), raw(dout), delta,
                    raw(dq), raw(dk), raw(dv));
            if (path == AttentionKernels.WGMMA) {
                k.flashAttnBwdWgmma(tensorMaps, sh, fb, scratch(Scratch.ATTN_DQ, sh.bh() * Nq * hd));
                hopperAttentionBackwards++;
            } else {
                k.flashAttnBwd(sh, fb);
            }
            return;
        }
        float scale = (float) (1.0 / Math.sqrt(hd));
        k.attnBwdDelta(bf16, delta, raw(out), raw(dout), ldo, B * H, H, Nq, hd);
        k.attnBwdDq(bf16, raw(dq), raw(dout), ldo, raw(lse), delta, raw(q), raw(kk), raw(v), B * H, H, Nq, Nk, hd, scale);
        k.attnBwdDkDv(bf16, raw(dk), raw(dv), raw(dout), ldo, raw(lse), delta, raw(q), raw(kk), raw(v), B * H, H, Nq, Nk, hd,
                scale);
    }

    /**
     * Whether attention's tensors ({@code names} name {@code ts}, q first) are BF16 rather than
     * F32; refuses a mixture, or an lse that is not F32, naming the tensor and the fix.
     */
    private static boolean attentionBf16(String op, Tensor lse, List<String> names, Tensor... ts) {
        DType t = ts[0].dtype();
        if (t != DType.F32 && t != DType.BF16)
            throw new IllegalArgumentException(op + ": q is " + t + "; attention computes on F32 or BF16 tensors");
        for (int i = 1; i < ts.length; i++)
            if (ts[i].dtype() != t)
                throw new IllegalArgumentException(op + ": " + names.get(i) + " is " + ts[i].dtype() + " but q is " + t
                        + "; allocate " + String.join(", ", names) + " in one element type");
        if (lse.dtype() != DType.F32)
            throw new IllegalArgumentException(op + ": lse is " + lse.dtype() + "; softmax statistics are F32 in every "
                    + "precision: allocate lse as F32");
        return t == DType.BF16;
    }

    /** bf16 attention's kernel sets: attention_wgmma*.cu (Hopper), attention_bf16.cu (mma.sync), attention.cu (SIMT). */
    private enum AttentionKernels { WGMMA, MMA, SIMT }

    /**
     * The one rule for bf16 attention on the tensor cores ({@code backward}: which direction): out/dout
     * rows a multiple of 8 elements and every tensor 16-byte aligned, then on a Hopper the wgmma
     * kernels where they take the head dim ({@link FlashAttention#wgmmaForwardTakes},
     * {@link FlashAttention#wgmmaBackwardTakes}: multiples of 8 up to 256 / 128), else the mma.sync
     * kernels at their head dims ({@link FlashAttention#HEAD_DIMS}); what Kernels.flashAttn* would
     * otherwise refuse goes to attention.cu. See {@link #attentionForward}. Counts the tensor-core calls.
     */
    private AttentionKernels attentionKernels(FlashAttention.Shape sh, boolean backward, long ldo, Tensor... ts) {
        if (ldo % 8 != 0) return AttentionKernels.SIMT;
        for (Tensor t : ts) if (raw(t) % 16 != 0) return AttentionKernels.SIMT;
        AttentionKernels path = hopper && (backward ? FlashAttention.wgmmaBackwardTakes(sh) : FlashAttention.wgmmaForwardTakes(sh))
                ? AttentionKernels.WGMMA : FlashAttention.HEAD_DIMS.contains(sh.hd()) ? AttentionKernels.MMA : AttentionKernels.SIMT;
        if (path != AttentionKernels.SIMT) tensorCoreAttentions++;
        return path;
    }

    private static FlashAttention.Forward flashForward(Tensor out, long ldo, Tensor lse, Tensor q, Tensor kk, Tensor v) {
        return new FlashAttention.Forward(raw(q), raw(kk), raw(v), raw(out), ldo, raw(lse));
    }

    /** How many attention calls (forward or backward) ran on the tensor-core flash kernels so far. */
    public long tensorCoreAttentions() { return tensorCoreAttentions; }

    /** How many attention forwards ran on the Hopper kernel (attention_wgmma.cu) so far. */
    public long hopperAttentionForwards() { return hopperAttentionForwards; }

    /** How many attention backwards ran on the Hopper kernel (attention_wgmma_bwd.cu) so far. */
    public long hopperAttentionBackwards() { return hopperAttentionBackwards; }

    @Override public void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) {
        if (nativeBf16("outProjectionForward", bf16("out", out), bf16("x", x), bf16("ag", ag), bf16("wOut", wOut),
                bf16("bOut", bOut))) {   // x may be out: the residual is read and written by one thread
            nativeForward(out, ag, wOut, bOut, x, Math.toIntExact(x.size() / wOut.dim(0)));
            return;
        }
        int D = wOut.dim(0), K = wOut.dim(1), T = Math.toIntExact(x.size() / D);
        // residual read and output write of one element happen in the same thread: out may alias x
        gemmNT(a(out), D, a(ag), a(wOut), T, D, K, false, a(bOut), a(x), D, T);
    }

    @Override public void outProjectionBackward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut) {
        linearBackward(dag, dwOut, dbOut, dout, ag, wOut);
    }

    // ---- loss and optimiser ---------------------------------------------------------------

    @Override public double lossForwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        queueLoss(logits, targets, dlogits, kind);
        return queuedLoss();
    }

    @Override public void queueLoss(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        sameSize(logits, targets, "lossForwardBackward");
        int B = logits.dim(0), C = Math.toIntExact(logits.size() / B);
        zeroScalar(loss);
        boolean bf = bf16Storage("lossForwardBackward", "logits, dlogits", logits, dlogits);
        k.loss(bf, loss.address(), raw(dlogits), raw(logits), f32("lossForwardBackward", "targets", targets), B, C, kind.ordinal());
    }

    @Override public double queuedLoss() { return readScalar(loss); }

    @Override public void setAdamwStep(float lr, int stepsDone) {
        upload(new Tensor(adamwScalars, 0, ADAMW_SCALARS), new float[] {lr, 0, 0, 0, 0, Float.intBitsToFloat(stepsDone)});
    }

    /**
     * sum_squares, adamw_scalars, then one adamw_multi (adamw_multi_f32copy for a float32 copy)
     * over the chunk table of {@code ranges}: three launches whatever the number of ranges.
     */
    @Override public void queueAdamw(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor copy, List<AdamwRange> ranges,
                                     float beta1, float beta2, float eps, float clipNorm) {
        for (Tensor t : new Tensor[] {grads, m, v, copy})
            if (t != null) sameSize(params, t, "queueAdamw");
        AdamwTable table = adamwTable(ranges, params.size());
        zeroScalar(gradNormSquared);
        k.sumSquares(false, gradNormSquared.address(), a(grads), grads.size());
        long hp = adamwScalars.address();
        k.adamwScalars(hp, hp + 5L * Float.BYTES, gradNormSquared.address(), clipNorm, beta1, beta2);
        if (copy != null && copy.dtype() == DType.F32)
            k.adamwMultiF32Copy(a(params), a(grads), a(m), a(v), a(copy), table.chunks().address(), table.count(), hp,
                    beta1, beta2, eps);
        else
            k.adamwMulti(a(params), a(grads), a(m), a(v), copy == null ? 0L : raw(copy), table.chunks().address(),
                    table.count(), hp, beta1, beta2, eps);
    }

    /** A range list's chunk table on the device ({@link Kernels#adamwChunks}) and its number of chunks. */
    private record AdamwTable(DeviceStorage chunks, int count) {}

    /** The chunk tables of the range lists seen: built and uploaded once each, kept for the backend's life (graphs use them). */
    private final Map<List<AdamwRange>, AdamwTable> adamwTables = new java.util.HashMap<>();

    private AdamwTable adamwTable(List<AdamwRange> ranges, long size) {
        AdamwTable t = adamwTables.get(ranges);
        if (t != null) return t;
        if (stream.capturing())
            throw new IllegalStateException("queueAdamw with a range list not seen before while the stream is captured: "
                    + "its chunk table is uploaded on first use; run one eager step first");
        long[] off = new long[ranges.size()], len = new long[ranges.size()];
        float[] wd = new float[ranges.size()];
        for (int i = 0; i < off.length; i++) {
            AdamwRange r = ranges.get(i);
            if (r.offset() < 0 || r.size() < 0 || r.offset() + r.size() > size)
                throw new IllegalArgumentException("queueAdamw: range " + r + " lies outside the " + size + " parameters");
            off[i] = r.offset();
            len[i] = r.size();
            wd[i] = r.weightDecay();
        }
        int[] words = Kernels.adamwChunks(off, len, wd);
        DeviceStorage d = allocator.allocate(Math.max(1, words.length));   // 4-byte words, as floats
        if (words.length > 0) {   // at most 16 bytes per 4096 parameters: 8 MiB at 2^31, one staging buffer
            if (stagingFloats(words.length) < words.length)
                throw new IllegalStateException("AdamW's chunk table of " + words.length + " words exceeds the staging buffer");
            stagingFree.synchronize();
            MemorySegment.copy(words, 0, staging, ValueLayout.JAVA_INT_UNALIGNED, 0, words.length);
            device.copyToDevice(d.address(), staging, (long) words.length * Integer.BYTES, stream);
            stagingFree.record(stream);
        }
        t = new AdamwTable(d, words.length / Kernels.ADAMW_CHUNK_INTS);
        adamwTables.put(List.copyOf(ranges), t);
        return t;
    }

    @Override public double queuedGradNorm() { return Math.sqrt(readScalar(gradNormSquared)); }

    /** Captures {@code work} from this backend's current stream into a graph, replayed on that stream. */
    @Override public Recording record(Runnable work) {
        DeviceStream on = stream;
        on.beginCapture();
        DeviceGraph graph;
        try {
            work.run();
        } catch (RuntimeException | Error e) {
            try {
                on.endCapture().close();
            } catch (RuntimeException second) {
                e.addSuppressed(second);
            }
            throw e;
        }
        graph = on.endCapture();
        return new Recording() {
            @Override public void replay() { graph.launch(on); }
            @Override public void close() { graph.close(); }
        };
    }

    /** adamw_f32, then the copy (if any) from the updated parameters: the eager per-range path (the mesh's). */
    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor copy, float lr, float beta1,
                                float beta2, float eps, float weightDecay, float gradScale, int step) {
        sameSize(param, grad, "adamw");
        if (step < 1) throw new IllegalArgumentException("adamw: step must be >= 1 (bias correction), got " + step);
        float bc1 = (float) (1 - Math.pow(beta1, step)), bc2 = (float) (1 - Math.pow(beta2, step));
        k.adamw(a(param), a(grad), a(m), a(v), param.size(), lr, beta1, beta2, eps, weightDecay, gradScale, bc1, bc2);
        if (copy != null) Backend.writeBf16Copy(this, copy, param);
    }

    /** Waits for the stream, then releases everything in this backend's own device context (the device too if it owns it); idempotent. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        try {
            ownStream.synchronize();
        } catch (RuntimeException e) {
            first = e;   // still release what we hold
        }
        List<AutoCloseable> parts = new ArrayList<>();
        if (lt != null) parts.add(lt);
        parts.add(() -> { if (staging != null) device.freeHost(staging); });
        parts.add(() -> { if (uploadStaging != null) uploadStaging.close(); });
        parts.add(stagingFree);
        parts.add(allocator);
        parts.add(ownStream);
        if (ownsDevice) parts.add(device);
        for (AutoCloseable c : parts)
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) first = e instanceof RuntimeException r ? r : new IllegalStateException(e);
                else first.addSuppressed(e);
            }
        if (first != null) throw first;
    }
}
