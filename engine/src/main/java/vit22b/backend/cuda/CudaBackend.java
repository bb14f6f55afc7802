package vit22b.backend.cuda;

import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.JCudaDriver;
import vit22b.backend.Backend;
import vit22b.kernels.Cuda;
import vit22b.kernels.KernelModule;
import vit22b.kernels.Kernels;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;

/**
 * The GPU backend, fp32: every op is one or a few of our kernels (kernels module) queued on one
 * stream; memory comes from a {@link CachingAllocator}. Calls that return host values
 * (download, sumSquares, lossForwardBackward) synchronise; everything else only queues work, so
 * a step without them can be captured into a CUDA graph ({@link #stream()}).
 * {@link GemmPath#CUBLASLT} runs the GEMMs through cuBLASLt instead of gemm_f32, with the same
 * epilogues as a separate kernel: the peer our GEMM kernel is measured against in whole steps.
 */
public final class CudaBackend implements Backend {
    /** Who computes the GEMMs: our gemm_f32 kernel (fused epilogues) or cuBLASLt + an epilogue kernel. */
    public enum GemmPath { KERNELS, CUBLASLT }

    private final CUcontext context;
    private final CudaStream stream;
    private final CachingAllocator allocator = new CachingAllocator();
    private final KernelModule module;
    private final Kernels k;
    private final DeviceStorage scalar;   // one double for reductions returned to the host
    private final CublasLt lt;             // null unless GemmPath.CUBLASLT

    /** Opens device {@code ordinal}; fails with the fix when there is no GPU or no kernels. */
    public CudaBackend(int ordinal, GemmPath path) {
        context = Cuda.primaryContext(ordinal);
        stream = new CudaStream();
        module = new KernelModule();
        k = new Kernels(module, stream.handle());
        scalar = allocator.allocate(2);
        lt = path == GemmPath.CUBLASLT ? new CublasLt(this) : null;
    }

    public CudaBackend() { this(0, GemmPath.KERNELS); }

    /** The fused kernels are the paper's block; the variants' composed path has not run on a GPU. */
    @Override public void requireSupported(ModelConfig c) {
        if (!c.variant().isPaper())
            throw new IllegalArgumentException("the CUDA backend runs only the paper's block, and model '" + c.name()
                    + "' uses " + c.variant().flags() + "; use --backend cpu for block variants");
    }

    @Override public String name() { return "cuda"; }

    public CudaStream stream() { return stream; }

    /** Makes this GPU's context current on the calling thread: needed when one thread drives several GPUs. */
    public void makeCurrent() {
        Cuda.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    public CachingAllocator allocator() { return allocator; }

    Kernels kernels() { return k; }

    static DeviceStorage dev(Tensor t) {
        if (!(t.storage() instanceof DeviceStorage d))
            throw new IllegalArgumentException("tensor " + t + " is not in GPU memory; allocate it with the cuda backend");
        return d;
    }

    /** Device address of a tensor's first element (0 for null: the kernels' "absent"). */
    static long a(Tensor t) { return t == null ? 0L : dev(t).address() + t.offset() * Float.BYTES; }

    private static void sameSize(Tensor x, Tensor y, String op) {
        if (x.size() != y.size()) throw new IllegalArgumentException(op + ": sizes differ, " + x + " vs " + y);
    }

    // ---- memory ---------------------------------------------------------------------------

    @Override public Tensor allocate(int... shape) {
        Tensor t = new Tensor(allocator.allocate(Tensor.sizeOf(shape)), 0, shape);
        zero(t);
        return t;
    }

    @Override public void free(Tensor t) { dev(t).close(); }

    @Override public void upload(Tensor dst, float[] src) {
        if (src.length != dst.size()) throw new IllegalArgumentException("upload of " + src.length + " floats into " + dst);
        stream.synchronize();
        Cuda.check(JCudaDriver.cuMemcpyHtoD(dev(dst).pointer(dst.offset()), Pointer.to(src), dst.size() * Float.BYTES), "cuMemcpyHtoD");
    }

    @Override public float[] download(Tensor src) {
        float[] out = new float[Math.toIntExact(src.size())];
        stream.synchronize();
        Cuda.check(JCudaDriver.cuMemcpyDtoH(Pointer.to(out), dev(src).pointer(src.offset()), src.size() * Float.BYTES), "cuMemcpyDtoH");
        return out;
    }

    @Override public void zero(Tensor t) {
        Cuda.check(JCudaDriver.cuMemsetD32Async(dev(t).pointer(t.offset()), 0, t.size(), stream.handle()), "cuMemsetD32Async");
    }

    @Override public void copy(Tensor dst, Tensor src) {
        sameSize(dst, src, "copy");
        Cuda.check(JCudaDriver.cuMemcpyDtoDAsync(dev(dst).pointer(dst.offset()), dev(src).pointer(src.offset()),
                src.size() * Float.BYTES, stream.handle()), "cuMemcpyDtoDAsync");
    }

    @Override public void add(Tensor dst, Tensor src) {
        sameSize(dst, src, "add");
        k.add(a(dst), a(src), dst.size());
    }

    @Override public void scale(Tensor t, float s) { k.scale(a(t), s, t.size()); }

    @Override public double sumSquares(Tensor t) {
        zeroScalar();
        k.sumSquares(scalar.address(), a(t), t.size());
        return readScalar();
    }

    private void zeroScalar() {
        Cuda.check(JCudaDriver.cuMemsetD32Async(scalar.pointer(0), 0, 2, stream.handle()), "cuMemsetD32Async");
    }

    private double readScalar() {
        double[] d = new double[1];
        stream.synchronize();
        Cuda.check(JCudaDriver.cuMemcpyDtoH(Pointer.to(d), scalar.pointer(0), Double.BYTES), "cuMemcpyDtoH");
        return d[0];
    }

    @Override public void synchronize() { stream.synchronize(); }

    // ---- GEMM helpers (row-major; see gemm.cu for the stride convention) --------------------

    /** out (R, N) (+)= in (R, K) @ w^T, w (N, K), then the epilogue (see gemm.cu). */
    private void gemmNT(long out, long ldc, long in, long w, int R, int N, int K, boolean acc,
                        long bias, long res, long ldr, int resRows, long gout, long ldg, int geluCols, long gbias, int gk) {
        if (lt == null) {
            k.gemm(in, K, 1, w, 1, K, out, ldc, R, N, K, acc, bias, res, ldr, resRows, gout, ldg, geluCols, gbias, gk);
            return;
        }
        boolean inPlaceResidual = res == out && ldr == ldc && resRows >= R;   // out aliases x: C already holds it
        lt.matmul(out, ldc, in, K, false, w, K, true, R, N, K, acc || inPlaceResidual ? 1f : 0f, CublasLt.Type.F32);
        if (inPlaceResidual) res = 0;
        if (bias != 0 || res != 0 || geluCols > 0)
            k.gemmEpilogue(out, ldc, R, N, bias, res, ldr, resRows, gout, ldg, geluCols, gbias, gk);
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

    // ---- patch embedding ------------------------------------------------------------------

    @Override public void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) {
        int B = images.dim(0), C = images.dim(1), S = images.dim(2), D = w.dim(0), K = C * patch * patch;
        int N = (S / patch) * (S / patch);
        try (DeviceStorage cols = allocator.allocate((long) B * N * K)) {
            k.im2col(cols.address(), a(images), B, C, S, patch);
            gemmNT(a(out), D, cols.address(), a(w), B * N, D, K, false, a(b), a(pos), D, N, 0, 0, 0, 0, 0);
        }
    }

    @Override public void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) {
        int B = images.dim(0), C = images.dim(1), S = images.dim(2), D = dw.dim(0), K = C * patch * patch;
        int N = (S / patch) * (S / patch);
        try (DeviceStorage cols = allocator.allocate((long) B * N * K)) {
            k.im2col(cols.address(), a(images), B, C, S, patch);
            gemmTN(a(dw), a(dout), D, cols.address(), B * N, D, K);
        }
        if (db != null) k.colSum(a(db), a(dout), (long) B * N, D, D);
        if (dpos != null) k.posGrad(a(dpos), a(dout), B, (long) N * D);
    }

    // ---- normalisation --------------------------------------------------------------------

    @Override public void normForward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps) {
        int W = Math.toIntExact(scale.size());
        k.normFwd(a(out), a(stats), a(x), a(scale), a(bias), Math.toIntExact(x.size() / W), W, centered, eps);
    }

    @Override public void normBackward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale,
                                       Tensor stats, boolean centered) {
        int W = Math.toIntExact(scale.size()), R = Math.toIntExact(x.size() / W);
        k.normBwdDx(a(dx), a(dout), a(x), a(scale), a(stats), R, W, centered);
        k.normBwdParams(a(dscale), a(dbias), a(dout), a(x), a(stats), R, W);
    }

    // ---- linear layers and activations ----------------------------------------------------

    @Override public void linearForward(Tensor out, Tensor in, Tensor w, Tensor bias) {
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        gemmNT(a(out), N, a(in), a(w), R, N, K, false, a(bias), 0, 0, 1, 0, 0, 0, 0, 0);
    }

    @Override public void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        int N = w.dim(0), K = w.dim(1), R = Math.toIntExact(in.size() / K);
        if (din != null) gemmNN(a(din), a(dout), N, a(w), R, N, K);
        gemmTN(a(dw), a(dout), N, a(in), R, N, K);
        if (dbias != null) k.colSum(a(dbias), a(dout), R, N, N);
    }

    @Override public void geluForward(Tensor out, Tensor in, GeluKind kind) {
        sameSize(out, in, "geluForward");
        k.geluFwd(a(out), a(in), in.size(), kind.ordinal());
    }

    @Override public void geluBackward(Tensor din, Tensor dout, Tensor in, GeluKind kind) {
        sameSize(din, in, "geluBackward");
        k.geluBwd(a(din), a(dout), a(in), in.size(), kind.ordinal());
    }

    @Override public void broadcastRows(Tensor dst, Tensor src) {
        int W = Math.toIntExact(src.size());
        k.broadcastRows(a(dst), a(src), dst.size() / W, W);
    }

    @Override public void sumRows(Tensor dst, Tensor src) {
        int W = Math.toIntExact(dst.size());
        k.colSum(a(dst), a(src), src.size() / W, W, W);
    }

    @Override public void toHeads(Tensor dst, Tensor src, int col, int batch, int heads) {
        int N = dst.dim(2), hd = dst.dim(3);
        k.toHeads(a(dst), a(src), src.size() / ((long) batch * N), col, batch, N, heads, hd);
    }

    @Override public void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads) {
        int N = src.dim(2), hd = src.dim(3);
        k.fromHeads(a(dst), dst.size() / ((long) batch * N), col, a(src), batch, N, heads, hd);
    }

    // ---- the parallel block ---------------------------------------------------------------

    @Override public void inProjectionForward(ModelConfig c, int batch, Tensor y, Tensor wIn, Tensor bMlp,
                                              Tensor qScale, Tensor kScale, Tensor pre, Tensor ag,
                                              Tensor q, Tensor k, Tensor v, Tensor qkStats) {
        int D = c.width(), M = c.mlp(), rows = c.inProjRows(), N = c.tokens(), T = batch * N;
        // pre = y wIn^T; epilogue: ag[:, D:D+M] = GELU(pre[:, :M] + bMlp)
        gemmNT(a(pre), rows, a(y), a(wIn), T, rows, D, false, 0, 0, 0, 1,
                a(ag) + (long) D * Float.BYTES, D + M, M, a(bMlp), c.gelu().ordinal());
        this.k.qknormFwd(a(pre), rows, M, a(qScale), a(kScale), a(q), a(k), a(v), a(qkStats),
                batch, N, c.heads(), c.headDim(), c.norm() == NormKind.LAYER, ModelConfig.EPS);
    }

    @Override public void inProjectionBackward(ModelConfig c, int batch, Tensor dag, Tensor dq, Tensor dk, Tensor dv,
                                               Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale,
                                               Tensor pre, Tensor qkStats, Tensor dpre,
                                               Tensor dy, Tensor dwIn, Tensor dbMlp, Tensor dqScale, Tensor dkScale) {
        int D = c.width(), M = c.mlp(), rows = c.inProjRows(), N = c.tokens(), T = batch * N;
        k.geluBwdCols(a(dpre), rows, a(pre), a(bMlp), a(dag), D + M, D, T, M, c.gelu().ordinal());
        k.qknormBwd(a(dpre), rows, M, a(pre), a(dq), a(dk), a(dv), a(qScale), a(kScale), a(qkStats),
                a(dqScale), a(dkScale), batch, N, c.heads(), c.headDim(), c.norm() == NormKind.LAYER);
        k.colSum(a(dbMlp), a(dpre), T, M, rows);
        gemmNN(a(dy), a(dpre), rows, a(wIn), T, rows, D);
        gemmTN(a(dwIn), a(dpre), rows, a(y), T, rows, D);
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
        try (DeviceStorage delta = allocator.allocate((long) B * H * Nq)) {
            k.attnBwdDelta(delta.address(), a(out), a(dout), ldo, B * H, H, Nq, hd);
            k.attnBwdDq(a(dq), a(dout), ldo, a(lse), delta.address(), a(q), a(kk), a(v), B * H, H, Nq, Nk, hd, scale);
            k.attnBwdDkDv(a(dk), a(dv), a(dout), ldo, a(lse), delta.address(), a(q), a(kk), a(v), B * H, H, Nq, Nk, hd, scale);
        }
    }

    @Override public void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) {
        int D = wOut.dim(0), K = wOut.dim(1), T = Math.toIntExact(x.size() / D);
        // residual read and output write of one element happen in the same thread: out may alias x
        gemmNT(a(out), D, a(ag), a(wOut), T, D, K, false, a(bOut), a(x), D, T, 0, 0, 0, 0, 0);
    }

    @Override public void outProjectionBackward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut) {
        linearBackward(dag, dwOut, dbOut, dout, ag, wOut);
    }

    // ---- loss and optimiser ---------------------------------------------------------------

    @Override public double lossForwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        sameSize(logits, targets, "lossForwardBackward");
        int B = logits.dim(0), C = Math.toIntExact(logits.size() / B);
        zeroScalar();
        k.loss(scalar.address(), a(dlogits), a(logits), a(targets), B, C, kind.ordinal());
        return readScalar();
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, float gradScale, int step) {
        sameSize(param, grad, "adamw");
        float bc1 = (float) (1 - Math.pow(beta1, step)), bc2 = (float) (1 - Math.pow(beta2, step));
        k.adamw(a(param), a(grad), a(m), a(v), param.size(), lr, beta1, beta2, eps, weightDecay, gradScale, bc1, bc2);
    }

    @Override public void close() {
        stream.synchronize();
        if (lt != null) lt.close();
        scalar.close();
        module.close();
        allocator.close();
        stream.close();
        Cuda.check(JCudaDriver.cuDevicePrimaryCtxRelease(deviceOf()), "cuDevicePrimaryCtxRelease");
    }

    private jcuda.driver.CUdevice deviceOf() {
        jcuda.driver.CUdevice d = new jcuda.driver.CUdevice();
        Cuda.check(JCudaDriver.cuCtxGetDevice(d), "cuCtxGetDevice");
        return d;
    }
}
