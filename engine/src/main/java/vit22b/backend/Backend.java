package vit22b.backend;

import java.lang.foreign.MemorySegment;

import vit22b.io.DType;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.tensor.Tensor;

/**
 * The model's operations, forward and backward, on one device. Implementations: {@code cpu}
 * (reference, OpenBLAS GEMMs) and {@code cuda} (our kernels).
 *
 * <p>Conventions, for every method:
 * <ul>
 * <li>Tensors are float32, row-major and contiguous, allocated by this backend. BF16 tensors
 *     serve the memory ops ({@link #allocate(DType, int...)}, upload, download, zero, copy,
 *     {@link #cast}) only; {@link Bf16Rounding} runs the model ops with bf16 semantics.</li>
 * <li>T = B * N token rows; D width; M MLP width; H heads; hd = D / H.</li>
 * <li>"Head-major" is (B, H, N, hd). "Token-major" is (B * N, row stride) with head h at
 *     columns [h * hd, (h + 1) * hd).</li>
 * <li>Every backward ACCUMULATES (+=) into each gradient it is given; the caller zeroes
 *     gradients before a step. Gradient arguments named nullable may be null (not wanted).</li>
 * <li>Residual connections are the caller's: no op adds its dout to its dx implicitly.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** "cpu", "cuda", "cuda-emu" or "cuda-emu-hopper" (see {@link Backends}). */
    String name();

    // ---- memory ---------------------------------------------------------------------------

    /** A new zero-filled float32 tensor of {@code shape}; close it with {@link #free}. */
    Tensor allocate(int... shape);

    /** A new zero-filled tensor of element type {@code dtype} (F32 or BF16); close it with {@link #free}. */
    Tensor allocate(DType dtype, int... shape);

    /**
     * The precision the model stores activations and compute weights in on this backend (FP32:
     * everything float32; BF16: {@link Bf16Rounding}'s recipe).
     */
    default Precision precision() { return Precision.FP32; }

    /**
     * Bytes this backend can still allocate: the device's free memory (cuMemGetInfo), on the cpu
     * the host's available memory; Long.MAX_VALUE where unknown. What a model is checked against
     * before it allocates.
     */
    default long freeBytes() { return Long.MAX_VALUE; }

    /** Releases the storage behind a tensor returned by {@link #allocate}. */
    void free(Tensor t);

    /** dst = src; a BF16 dst receives each value rounded by {@link vit22b.tensor.Bf16#fromFloat}. */
    void upload(Tensor dst, float[] src);

    /**
     * dst = the {@code dst.size()} elements of type {@code srcType} (F32 or BF16) at {@code src},
     * little-endian as a safetensors file stores them (e.g. a slice of a memory-mapped file): no
     * float[] in between, and no limit of 2^31 elements. The same type is copied byte for byte;
     * F32 into a BF16 tensor is rounded once by {@link vit22b.tensor.Bf16#fromFloat} (as
     * {@link #upload(Tensor, float[])} rounds); BF16 into an F32 tensor is widened exactly.
     * Reading {@code src} may fault (a mapped file cut short): the caller reports that.
     */
    void upload(Tensor dst, MemorySegment src, DType srcType);

    /** Checks {@link #upload(Tensor, MemorySegment, DType)}'s arguments; returns the element count. */
    static long requireUpload(Tensor dst, MemorySegment src, DType srcType) {
        if (srcType != DType.F32 && srcType != DType.BF16)
            throw new IllegalArgumentException("upload of " + srcType + " bytes: a backend takes F32 or BF16; convert "
                    + srcType + " to float32 first");
        if (src.byteSize() != dst.size() * srcType.size)
            throw new IllegalArgumentException("upload of " + src.byteSize() + " bytes of " + srcType + " into " + dst
                    + " (" + dst.size() + " elements, " + dst.size() * srcType.size + " bytes)");
        return dst.size();
    }

    /** The values of src as floats (BF16 widened exactly). */
    float[] download(Tensor src);

    void zero(Tensor t);

    /** dst = src (same size and element type). */
    void copy(Tensor dst, Tensor src);

    /**
     * dst = src converted to dst's element type (same size): F32 -> BF16 rounds by
     * {@link vit22b.tensor.Bf16#fromFloat} (nearest, ties to even; NaN stays quiet NaN; overflow
     * to Inf), BF16 -> F32 is exact, the same type copies.
     */
    void cast(Tensor dst, Tensor src);

    /** t (F32) = each element rounded to the nearest bf16 value and kept as float32, in place. */
    void roundToBf16(Tensor t);

    /** dst += src (same size). */
    void add(Tensor dst, Tensor src);

    /** t *= s. */
    void scale(Tensor t, float s);

    /** sum of t[i]^2, accumulated in double. */
    double sumSquares(Tensor t);

    /** Waits for queued work (no-op on the CPU). */
    void synchronize();

    // ---- patch embedding ------------------------------------------------------------------

    /**
     * out (B, N, D) = conv(images (B, C, S, S), w (D, C, P, P), stride P) + b (D) + pos (N, D);
     * token n = row-major patch index over the grid.
     */
    void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch);

    /** Accumulates dw, db, dpos from dout (B, N, D). No gradient for the images. */
    void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch);

    // ---- normalisation --------------------------------------------------------------------

    /**
     * Row-wise norm of x (R, W): centered ? (x - mean) * rstd : x * rms^-1, times scale (W),
     * plus bias (W, nullable). stats (R, 2) receives [mean (0 when not centered), rstd].
     */
    void normForward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps);

    /** Accumulates dx, dscale, dbias (nullable) from dout. */
    void normBackward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale,
                      Tensor stats, boolean centered);

    // ---- linear layers and activations ----------------------------------------------------

    /** out (R, N) = in (R, K) @ w^T (w is N x K, PyTorch's Linear layout) + bias (N, nullable). */
    void linearForward(Tensor out, Tensor in, Tensor w, Tensor bias);

    /** Accumulates din (nullable), dw, dbias (nullable) from dout (R, N). */
    void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w);

    void geluForward(Tensor out, Tensor in, GeluKind kind);

    /** din += dout * gelu'(in). */
    void geluBackward(Tensor din, Tensor dout, Tensor in, GeluKind kind);

    /** dst (R, W) = src (W) in every row. */
    void broadcastRows(Tensor dst, Tensor src);

    /** dst (W) += sum over rows of src (R, W). */
    void sumRows(Tensor dst, Tensor src);

    /** dst (B, H, N, hd) = head-major copy of src columns [col, col + H*hd) of src (B*N, W). */
    void toHeads(Tensor dst, Tensor src, int col, int batch, int heads);

    /** dst columns [col, col + H*hd) of dst (B*N, W) += token-major copy of src (B, H, N, hd). */
    void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads);

    // ---- the parallel block ---------------------------------------------------------------

    /**
     * The shape of one in-projection (a model shard's, or the whole block's): {@code batch} images
     * of {@code tokens} tokens, {@code mlp} MLP units and {@code heads} heads of {@code headDim}.
     * pre (T, mlp + 3 W) has columns [MLP | q | k | v] (W = heads * headDim); ag (T, W + mlp) has
     * columns [attention | GELU output].
     */
    record InProj(int batch, int tokens, int mlp, int heads, int headDim) {
        public int width() { return heads * headDim; }
        public int rows() { return batch * tokens; }
        public int preCols() { return mlp + 3 * width(); }
        public int agCols() { return width() + mlp; }
        /** q's first column in pre (k and v follow, W apart). */
        public int qCol() { return mlp; }
        /** The GELU output's first column in ag. */
        public int geluCol() { return width(); }
    }

    /**
     * The in-projection's epilogue, after the GEMM pre = y @ wIn^T ({@link #linearForward}):
     * g = GELU(pre[:, :mlp] + bMlp) into ag's columns [W, W + mlp); q and k QK-normalised per head
     * over headDim (shared scales qScale, kScale; mean/rstd into qkStats (2, B, H, N, 2)); q, k, v
     * written head-major (B, H, N, hd). pre is kept for backward.
     */
    void inProjectionEpilogueForward(InProj s, Tensor pre, Tensor bMlp, Tensor qScale, Tensor kScale,
                                     Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats,
                                     GeluKind gelu, boolean centered);

    /**
     * The whole in-projection: pre = y @ wIn^T (no bias: the MLP's is bMlp, q, k, v have none) then
     * {@link #inProjectionEpilogueForward}. A backend may fuse the epilogue into the GEMM (the CUDA
     * backend in bf16 where a head lies in one GEMM tile); the default is the two steps.
     */
    default void inProjectionForward(InProj s, Tensor pre, Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale,
                                     Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats, GeluKind gelu, boolean centered) {
        linearForward(pre, y, wIn, null);
        inProjectionEpilogueForward(s, pre, bMlp, qScale, kScale, ag, q, k, v, qkStats, gelu, centered);
    }

    /**
     * Backward of {@link #inProjectionEpilogueForward}: from dag (its GELU columns hold dL/dg) and
     * dq, dk, dv (head-major, w.r.t. normalised q and k, and v), WRITES dpre (T, mlp + 3W), the
     * gradient the GEMM's backward takes; accumulates dbMlp, dqScale, dkScale.
     */
    void inProjectionEpilogueBackward(InProj s, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor pre, Tensor bMlp,
                                      Tensor qScale, Tensor kScale, Tensor qkStats, Tensor dpre,
                                      Tensor dbMlp, Tensor dqScale, Tensor dkScale, GeluKind gelu, boolean centered);

    /**
     * Softmax attention, scale 1/sqrt(hd), no mask: q (B, H, Nq, hd), k and v (B, H, Nk, hd).
     * Writes a token-major into columns [0, H*hd) of out (B*Nq, stride >= H*hd) and the
     * per-row log-sum-exp of the scaled logits into lse (B, H, Nq).
     */
    void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v);

    /** Accumulates dq, dk, dv from dout (same layout as out). */
    void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                           Tensor q, Tensor k, Tensor v);

    /** Fused out-projection: out (T, D) = x (T, D) + ag (T, D+M) @ wOut^T (D x (D+M)) + bOut (D). */
    void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut);

    /** Accumulates dag, dwOut, dbOut from dout (T, D); the residual path is the caller's. */
    void outProjectionBackward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut);

    // ---- loss and optimiser ---------------------------------------------------------------

    /**
     * Mean over the batch of the loss of logits (B, C) against targets (B, C) (one-hot or
     * multi-hot in [0, 1]): sigmoid cross-entropy summed over classes, or softmax
     * cross-entropy. WRITES dlogits = d(mean loss)/d(logits). Returns the mean loss.
     */
    double lossForwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind);

    /**
     * AdamW with decoupled weight decay (PyTorch's semantics) on one contiguous range:
     * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd p).
     * {@code gradScale} multiplies g first (global-norm clipping). {@code copy} (null: none), of
     * param's size, then holds each updated p rounded to bf16 (the model's compute copy of the
     * weights; see {@link #queueAdamw}).
     */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor copy, float lr, float beta1, float beta2,
               float eps, float weightDecay, float gradScale, int step);

    /**
     * Writes {@code masters} rounded to bf16 into {@code copy}: a cast into a BF16 tensor, or a
     * copy rounded in place into a float32 one holding bf16 values (the storage of
     * {@link Bf16Rounding}'s wrapped backend). The one definition of an optimiser's copy write
     * where a backend does not fuse it into the update.
     */
    static void writeBf16Copy(Backend b, Tensor copy, Tensor masters) {
        if (copy.size() != masters.size())
            throw new IllegalArgumentException("compute copy " + copy + " and masters " + masters + " differ in size");
        if (copy.dtype() == DType.BF16) b.cast(copy, masters);
        else {
            b.copy(copy, masters);
            b.roundToBf16(copy);
        }
    }

    // ---- a training step without host round trips (on CUDA: capturable into a graph) ---------

    /** {@link #lossForwardBackward} without waiting: the mean loss stays on the device until {@link #queuedLoss}. */
    void queueLoss(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind);

    /** The mean loss of the last {@link #queueLoss} (waits for it). */
    double queuedLoss();

    /** A range of a flat parameter buffer and its decoupled weight decay. */
    record AdamwRange(long offset, long size, float weightDecay) {}

    /**
     * The host's part of the next {@link #queueAdamw}: learning rate and updates done so far
     * (bias correction). A host-to-device write, so outside any graph.
     */
    void setAdamwStep(float lr, int stepsDone);

    /**
     * One AdamW update ({@link #adamw}) of every range of the flat buffers with global-norm
     * clipping (clipNorm <= 0: none), computed without the host: the squared gradient norm, the
     * clip scale and the bias corrections stay on the device. When the norm is not finite nothing
     * is updated (the copy neither) and the step count stays. Read the norm with {@link #queuedGradNorm}.
     * {@code copy} (null: none), of params' size: the compute copy of the weights, which receives
     * each updated parameter rounded to bf16 in the same pass (on CUDA one launch for every range);
     * BF16, or float32 holding bf16 values where the backend's bf16 storage is float32 (the
     * backend wrapped by {@link Bf16Rounding}). Elements outside the ranges stay as they were.
     */
    void queueAdamw(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor copy, java.util.List<AdamwRange> ranges,
                    float beta1, float beta2, float eps, float clipNorm);

    /**
     * Global-norm clipping's factor for a gradient norm: min(1, clipNorm / norm); 1 when
     * clipNorm <= 0. The one definition on the host (the CUDA kernel adamw_scalars computes the
     * same on the device); {@code train.AdamW.Config#clipFactor} is this.
     */
    static float clipFactor(double gradNorm, float clipNorm) {
        return clipNorm > 0 && gradNorm > clipNorm ? (float) (clipNorm / gradNorm) : 1f;
    }

    /** The global gradient norm (before clipping) of the last {@link #queueAdamw} (waits for it). */
    double queuedGradNorm();

    /** Device work recorded once and replayed as a whole (a CUDA graph). */
    interface Recording extends AutoCloseable {
        /** Queues the recorded work once more, on the backend's stream. */
        void replay();

        @Override void close();
    }

    /**
     * Records the device work that {@code work} queues on this backend, without running it, for
     * {@link Recording#replay}: a whole training step becomes one launch instead of several hundred.
     * The work must neither allocate nor wait for the device (run it once eagerly first so that every
     * buffer exists; read results after a replay with {@link #queuedLoss} and {@link #queuedGradNorm}).
     * Null where the backend runs each op at once (the CPU) and there is nothing to record.
     */
    default Recording record(Runnable work) { return null; }

    @Override
    void close();
}
