package vit22b.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

import vit22b.backend.Backend;
import vit22b.io.DType;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.kernels.JCudaRuntime;
import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm;
import vit22b.kernels.emu.EmulatedRuntime;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;

/**
 * The CUDA backend, fp32: every op is one or a few of our kernels (kernels module) queued on one
 * non-blocking stream of a {@link DeviceRuntime}: a GPU ({@link JCudaRuntime}) or the emulated
 * device ({@link EmulatedRuntime}), with the same code. Memory comes from a
 * {@link CachingAllocator}; scratch buffers are kept for the backend's life. Uploads and
 * downloads go through page-locked staging memory on the same stream, so they are ordered
 * with the kernels. Calls that return host values (download, sumSquares, lossForwardBackward)
 * synchronise; everything else only queues work, so such work can be captured into a graph
 * ({@link #stream()}): once a first eager run has sized the caches, nothing in it allocates.
 * {@link GemmPath#CUBLASLT} runs the GEMMs through cuBLASLt instead of gemm_f32, with the same
 * epilogues as a separate kernel: the peer our GEMM kernel is measured against in whole steps.
 *
 * <p>bf16 ({@link vit22b.backend.Bf16Rounding} around this backend): tensors stay float32 in
 * memory, the decorator rounds the bf16 ones after every write and tells this backend which
 * they are ({@link #holdsBf16Values}). A linear layer's GEMM whose operands all hold bf16 values
 * then runs on the tensor cores (gemm_bf16_mma, fp32 accumulation and output): the operands are
 * packed to 2-byte scratch copies first (exact), so the products are the float32 kernel's and
 * only the order of summation differs. Everything else is still float32 arithmetic and storage.
 *
 * <p>Native bf16 (BF16 tensors in 2-byte storage): the norms, GELU, element-wise ops, heads
 * reshuffles, the in-projection epilogue and the loss dispatch on their tensors' element type
 * ({@link #bf16Storage}): activations and weights all F32 run the float kernels, all BF16 their
 * {@code _bf16} instantiations (fp32 math, one rounding per stored element); statistics,
 * parameter gradients and targets are F32 in both. The GEMMs and attention still take F32 only.
 */
public final class CudaBackend implements Backend {
    /** Who computes the GEMMs: our gemm_f32 kernel (fused epilogues) or cuBLASLt + an epilogue kernel. */
    public enum GemmPath { KERNELS, CUBLASLT }

    /** Scratch roles: one persistent buffer each, grown on demand outside capture. */
    private enum Scratch { IM2COL, ATTN_DELTA, BF16_A, BF16_B }

    private static final long STAGING_BYTES = 64L << 20;

    private final DeviceRuntime device;
    private final boolean ownsDevice;
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
    private boolean closed;
    /** Which float32 tensors hold bf16 values: their GEMMs may run on the tensor cores. */
    private Predicate<Tensor> bf16Valued = t -> false;
    private long tensorCoreGemms;
    /** The GEMM shapes already reported as refused by the tensor-core path (said once each). */
    private final Set<String> refusalsSaid = new HashSet<>();

    /** GPU {@code ordinal} through JCuda; fails with the fix when there is no GPU or no kernels. */
    public CudaBackend(int ordinal, GemmPath path) { this(new JCudaRuntime(ordinal), path); }

    public CudaBackend() { this(0, GemmPath.KERNELS); }

    /** Our kernels on the emulated device (slow: each CUDA thread is a fiber). */
    public static CudaBackend emulated() { return new CudaBackend(EmulatedRuntime.open(), GemmPath.KERNELS); }

    /**
     * A backend on {@code device}, which it owns from now on: closed with the backend, or at once
     * (with everything taken so far) when a later step of this constructor fails.
     */
    public CudaBackend(DeviceRuntime device, GemmPath path) { this(device, path, true); }

    /**
     * One of several backends on one device (each with its own stream, memory and scratch: k mesh
     * ranks on one GPU); closing it leaves the device open for the others and its owner.
     */
    public static CudaBackend sharing(DeviceRuntime device) { return new CudaBackend(device, GemmPath.KERNELS, false); }

    private CudaBackend(DeviceRuntime device, GemmPath path, boolean ownsDevice) {
        this.device = device;
        this.ownsDevice = ownsDevice;
        DeviceStream s = null;
        CachingAllocator al = null;
        DeviceEvent ev = null;
        try {
            if (path == GemmPath.CUBLASLT) CublasLt.requireLoadable(device);
            s = device.createStream();
            al = new CachingAllocator(device);   // closing it frees every register below too
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

    @Override public String name() { return device instanceof EmulatedRuntime ? "cuda-emu" : "cuda"; }

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

    /** Device address of a tensor's first element, any element type. */
    static long raw(Tensor t) { return dev(t).address() + t.offset() * t.dtype().size; }

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

    @Override public void holdsBf16Values(Predicate<Tensor> bf16Valued) { this.bf16Valued = bf16Valued; }

    /** How many GEMMs ran on the tensor cores (gemm_bf16_mma) so far: how a test sees the bf16 path taken. */
    public long tensorCoreGemms() { return tensorCoreGemms; }

    /** Whether every one of {@code ts} holds bf16 values, so that a GEMM over them may run in bf16. */
    private boolean bf16(Tensor... ts) {
        if (lt != null) return false;   // the cuBLASLt peer runs its own float32 GEMMs
        for (Tensor t : ts)
            if (!bf16Valued.test(t)) return false;
        return true;
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
                        long bias, long res, long ldr, int resRows, boolean bf16) {
        if (bf16 && tensorCores(MmaGemm.Form.NT, in, K, w, K, out, ldc, R, N, K,
                new MmaGemm.Epilogue(acc ? 1f : 0f, false, bias, res, ldr, resRows, null, 0)))
            return;
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
    private void gemmNN(long din, long dout, long ldd, long w, int R, int N, int K, boolean bf16) {
        if (bf16 && tensorCores(MmaGemm.Form.NN, dout, ldd, w, K, din, K, R, K, N, ACCUMULATE)) return;
        if (lt != null) lt.matmul(din, K, dout, ldd, false, w, K, false, R, K, N, 1f, CublasLt.Type.F32);
        else k.gemm(dout, ldd, 1, w, K, 1, din, K, R, K, N, true, 0, 0, 0, 1, 0, 0, 0, 0, 0);
    }

    /** dw (N, K) += dout^T (N, R) @ in (R, K); dout row stride ldd. */
    private void gemmTN(long dw, long dout, long ldd, long in, int R, int N, int K, boolean bf16) {
        if (bf16 && tensorCores(MmaGemm.Form.TN, dout, ldd, in, K, dw, K, N, K, R, ACCUMULATE)) return;
        if (lt != null) lt.matmul(dw, K, dout, ldd, true, in, K, false, N, K, R, 1f, CublasLt.Type.F32);
        else k.gemm(dout, 1, ldd, in, K, 1, dw, K, N, K, R, true, 0, 0, 0, 1, 0, 0, 0, 0, 0);
    }

    /** The Backend contract's "accumulates" as the tensor-core GEMM's epilogue: fp32 C += op(A) op(B). */
    private static final MmaGemm.Epilogue ACCUMULATE = MmaGemm.Epilogue.plain(false).accumulate();

    /**
     * Runs one GEMM on the tensor cores: A and B (float32 holding bf16 values, row strides aWidth
     * and bWidth elements) are packed to bf16 scratch with the same strides (exact) and gemm_bf16_mma writes
     * the fp32 C with epilogue e. Returns false, having queued nothing, when the packed rows
     * would not be 16 bytes wide multiples (a width not a multiple of 8: gemm_bf16_mma's cp.async
     * rows); the caller then runs the float32 GEMM, and the first refusal of each shape is said
     * on stderr.
     */
    private boolean tensorCores(MmaGemm.Form form, long a, long aWidth, long b, long bWidth, long c, long ldc,
                                int m, int n, int kk, MmaGemm.Epilogue e) {
        if (aWidth % 8 != 0 || bWidth % 8 != 0) {
            if (refusalsSaid.add(form + " " + m + "x" + n + "x" + kk))
                System.err.printf("%s: bf16 GEMM %s %dx%dx%d runs in float32: gemm_bf16_mma needs operand rows of a "
                        + "multiple of 8 elements (A %d, B %d wide)%n", name(), form, m, n, kk, aWidth, bWidth);
            return false;
        }
        long aElems = (form == MmaGemm.Form.TN ? kk : m) * aWidth, bElems = (form == MmaGemm.Form.NT ? n : kk) * bWidth;
        long pa = scratch(Scratch.BF16_A, (aElems + 1) / 2), pb = scratch(Scratch.BF16_B, (bElems + 1) / 2);
        k.toBf16(pa, a, aElems);
        k.toBf16(pb, b, bElems);
        k.gemmBf16Mma(new MmaGemm.Operands(form, pa, aWidth, pb, bWidth, c, ldc, m, n, kk), e);
        tensorCoreGemms++;
        return true;
    }

    // ---- patch embedding ------------------------------------------------------------------

    @Override public void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) {
        int B = images.dim(0), C = images.dim(1), S = images.dim(2), D = w.dim(0), K = C * patch * patch;
        int N = (S / patch) * (S / patch);
        long cols = scratch(Scratch.IM2COL, (long) B * N * K);
        k.im2col(cols, a(images), B, C, S, patch);
        gemmNT(a(out), D, cols, a(w), B * N, D, K, false, a(b), a(pos), D, N, false);   // images: float32
    }

    @Override public void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) {
        int B = images.dim(0), C = images.dim(1), S = images.dim(2), D = dw.dim(0), K = C * patch * patch;
        int N = (S / patch) * (S / patch);
        long cols = scratch(Scratch.IM2COL, (long) B * N * K);
        k.im2col(cols, a(images), B, C, S, patch);
        gemmTN(a(dw), a(dout), D, cols, B * N, D, K, false);
        if (db != null) k.colSum(false, false, a(db), a(dout), (long) B * N, D, D);
        if (dpos != null) k.posGrad(a(dpos), a(dout), B, (long) N * D);
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
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        gemmNT(a(out), N, a(in), a(w), R, N, K, false, a(bias), 0, 0, 1, bf16(in, w));
    }

    @Override public void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        if (din != null) gemmNN(a(din), a(dout), N, a(w), R, N, K, bf16(dout, w));
        gemmTN(a(dw), a(dout), N, a(in), R, N, K, bf16(dout, in));
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

    @Override public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor kk, Tensor v) {
        int B = q.dim(0), H = q.dim(1), Nq = q.dim(2), hd = q.dim(3), Nk = kk.dim(2);
        k.attnFwd(a(out), out.size() / ((long) B * Nq), a(lse), a(q), a(kk), a(v), B * H, H, Nq, Nk, hd,
                (float) (1.0 / Math.sqrt(hd)));
    }

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                            Tensor q, Tensor kk, Tensor v) {
        int B = q.dim(0), H = q.dim(1), Nq = q.dim(2), hd = q.dim(3), Nk = kk.dim(2);
        long ldo = out.size() / ((long) B * Nq);
        float scale = (float) (1.0 / Math.sqrt(hd));
        long delta = scratch(Scratch.ATTN_DELTA, (long) B * H * Nq);
        k.attnBwdDelta(delta, a(out), a(dout), ldo, B * H, H, Nq, hd);
        k.attnBwdDq(a(dq), a(dout), ldo, a(lse), delta, a(q), a(kk), a(v), B * H, H, Nq, Nk, hd, scale);
        k.attnBwdDkDv(a(dk), a(dv), a(dout), ldo, a(lse), delta, a(q), a(kk), a(v), B * H, H, Nq, Nk, hd, scale);
    }

    @Override public void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) {
        int D = wOut.dim(0), K = wOut.dim(1), T = Math.toIntExact(x.size() / D);
        // residual read and output write of one element happen in the same thread: out may alias x
        gemmNT(a(out), D, a(ag), a(wOut), T, D, K, false, a(bOut), a(x), D, T, bf16(ag, wOut));
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

    @Override public void queueAdamw(Tensor params, Tensor grads, Tensor m, Tensor v, List<AdamwRange> ranges,
                                     float beta1, float beta2, float eps, float clipNorm) {
        zeroScalar(gradNormSquared);
        k.sumSquares(false, gradNormSquared.address(), a(grads), grads.size());
        long hp = adamwScalars.address();
        k.adamwScalars(hp, hp + 5L * Float.BYTES, gradNormSquared.address(), clipNorm, beta1, beta2);
        for (AdamwRange r : ranges) {
            int n = Math.toIntExact(r.size());
            k.adamwDevice(a(params.view(r.offset(), n)), a(grads.view(r.offset(), n)), a(m.view(r.offset(), n)),
                    a(v.view(r.offset(), n)), n, hp, beta1, beta2, eps, r.weightDecay());
        }
    }

    @Override public double queuedGradNorm() { return Math.sqrt(readScalar(gradNormSquared)); }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, float gradScale, int step) {
        sameSize(param, grad, "adamw");
        if (step < 1) throw new IllegalArgumentException("adamw: step must be >= 1 (bias correction), got " + step);
        float bc1 = (float) (1 - Math.pow(beta1, step)), bc2 = (float) (1 - Math.pow(beta2, step));
        k.adamw(a(param), a(grad), a(m), a(v), param.size(), lr, beta1, beta2, eps, weightDecay, gradScale, bc1, bc2);
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
