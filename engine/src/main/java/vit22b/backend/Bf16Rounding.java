package vit22b.backend;

import java.lang.foreign.MemorySegment;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

import vit22b.io.DType;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.tensor.Storage;
import vit22b.tensor.Tensor;

/**
 * The bf16 mixed-precision reference (DESIGN.md, "bf16 mixed precision"): a backend whose BF16
 * tensors are float32 storage of the wrapped backend holding bf16 values. The model allocates
 * what the GPU path stores in bf16 (activations, their gradients, the compute copy of the
 * weights) as BF16, everything else (master weights, moments, parameter gradients, norm and
 * softmax statistics, images, targets) as F32. Every op runs on the wrapped backend with its
 * float32 arithmetic and accumulation, then each tensor the op wrote is rounded to bf16 in
 * place when it is BF16: this class is the one place that decides the rounding points, and
 * the rule is "a bf16 tensor holds bf16 values after every write", as on the GPU.
 *
 * <p>Reads need no conversion (bf16 values are float32 values), so the wrapped backend's ops
 * run unchanged; what this reference cannot show is rounding inside a fused op (the GPU's
 * flash attention rounds its softmax probabilities to bf16 before the P V product; here they
 * stay float32), which DESIGN.md's element-wise tolerances cover.
 */
public final class Bf16Rounding implements Backend {
    private final Backend inner;
    /** The storages of this backend's BF16 tensors (float32 in {@link #inner}). */
    private final Set<Storage> bf16 = Collections.newSetFromMap(new IdentityHashMap<>());

    public Bf16Rounding(Backend inner) {
        if (inner instanceof Bf16Rounding) throw new IllegalArgumentException("backend is already bf16-rounded");
        this.inner = inner;
    }

    /** The backend the ops run on. */
    public Backend inner() { return inner; }

    /** Whether {@code t} is one of this backend's BF16 tensors (float32 storage rounded after every write). */
    public boolean isBf16(Tensor t) { return bf16.contains(t.storage()); }

    /** Rounds each written tensor (null: absent) in place when it is BF16: the rounding point after every write. */
    private void round(Tensor... written) {
        for (Tensor t : written)
            if (t != null && bf16.contains(t.storage())) inner.roundToBf16(t);
    }

    @Override public String name() { return inner.name(); }
    @Override public Precision precision() { return Precision.BF16; }

    // ---- memory ---------------------------------------------------------------------------

    @Override public Tensor allocate(int... shape) { return inner.allocate(shape); }

    @Override public long freeBytes() { return inner.freeBytes(); }

    @Override public Tensor allocate(DType dtype, int... shape) {
        if (Tensor.requireStorable(dtype) == DType.F32) return inner.allocate(shape);
        Tensor t = inner.allocate(shape);
        bf16.add(t.storage());
        return t;
    }

    @Override public void free(Tensor t) {
        bf16.remove(t.storage());
        inner.free(t);
    }

    @Override public void upload(Tensor dst, float[] src) { inner.upload(dst, src); round(dst); }
    @Override public void upload(Tensor dst, MemorySegment src, DType srcType) { inner.upload(dst, src, srcType); round(dst); }
    @Override public float[] download(Tensor src) { return inner.download(src); }
    @Override public void zero(Tensor t) { inner.zero(t); }
    @Override public void copy(Tensor dst, Tensor src) { inner.copy(dst, src); round(dst); }
    @Override public void cast(Tensor dst, Tensor src) { inner.cast(dst, src); round(dst); }
    @Override public void roundToBf16(Tensor t) { inner.roundToBf16(t); }
    @Override public void add(Tensor dst, Tensor src) { inner.add(dst, src); round(dst); }
    @Override public void scale(Tensor t, float s) { inner.scale(t, s); round(t); }
    @Override public double sumSquares(Tensor t) { return inner.sumSquares(t); }
    @Override public void synchronize() { inner.synchronize(); }

    // ---- model ops: run, then round every tensor they wrote that is BF16 (never a parameter
    // gradient, statistic or master weight: the model allocates those F32) ----------------------

    // Patch embedding is a bf16 GEMM on the GPU: its image columns (im2col) are bf16, so the pixels
    // are read rounded there; here a rounded copy of the float32 images stands in for them.

    @Override public void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) {
        Tensor rounded = roundedCopy(images);
        try {
            inner.patchEmbedForward(out, rounded, w, b, pos, patch);
        } finally {
            inner.free(rounded);
        }
        round(out);
    }

    @Override public void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) {
        Tensor rounded = roundedCopy(images);
        try {
            inner.patchEmbedBackward(dw, db, dpos, dout, rounded, patch);
        } finally {
            inner.free(rounded);
        }
        round(dw, db, dpos);
    }

    /** A float32 copy of {@code t} with every value rounded to bf16 (free it on the inner backend). */
    private Tensor roundedCopy(Tensor t) {
        Tensor r = inner.allocate(t.shape());
        inner.copy(r, t);
        inner.roundToBf16(r);
        return r;
    }

    @Override public void normForward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps) {
        inner.normForward(out, stats, x, scale, bias, centered, eps);
        round(out, stats);
    }

    @Override public void normBackward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale,
                                       Tensor stats, boolean centered) {
        inner.normBackward(dx, dscale, dbias, dout, x, scale, stats, centered);
        round(dx, dscale, dbias);
    }

    @Override public void linearForward(Tensor out, Tensor in, Tensor w, Tensor bias) {
        inner.linearForward(out, in, w, bias);
        round(out);
    }

    @Override public void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        inner.linearBackward(din, dw, dbias, dout, in, w);
        round(din, dw, dbias);
    }

    @Override public void geluForward(Tensor out, Tensor in, GeluKind kind) {
        inner.geluForward(out, in, kind);
        round(out);
    }

    @Override public void geluBackward(Tensor din, Tensor dout, Tensor in, GeluKind kind) {
        inner.geluBackward(din, dout, in, kind);
        round(din);
    }

    @Override public void broadcastRows(Tensor dst, Tensor src) { inner.broadcastRows(dst, src); round(dst); }
    @Override public void sumRows(Tensor dst, Tensor src) { inner.sumRows(dst, src); round(dst); }

    @Override public void toHeads(Tensor dst, Tensor src, int col, int batch, int heads) {
        inner.toHeads(dst, src, col, batch, heads);
        round(dst);
    }

    @Override public void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads) {
        inner.fromHeads(dst, col, src, batch, heads);
        round(dst);
    }

    @Override public void inProjectionEpilogueForward(InProj s, Tensor pre, Tensor bMlp, Tensor qScale, Tensor kScale,
                                                      Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats,
                                                      GeluKind gelu, boolean centered) {
        inner.inProjectionEpilogueForward(s, pre, bMlp, qScale, kScale, ag, q, k, v, qkStats, gelu, centered);
        round(ag, q, k, v, qkStats);
    }

    @Override public void inProjectionEpilogueBackward(InProj s, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor pre,
                                                       Tensor bMlp, Tensor qScale, Tensor kScale, Tensor qkStats, Tensor dpre,
                                                       Tensor dbMlp, Tensor dqScale, Tensor dkScale, GeluKind gelu,
                                                       boolean centered) {
        inner.inProjectionEpilogueBackward(s, dag, dq, dk, dv, pre, bMlp, qScale, kScale, qkStats, dpre,
                dbMlp, dqScale, dkScale, gelu, centered);
        round(dpre, dbMlp, dqScale, dkScale);
    }

    @Override public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
        inner.attentionForward(out, lse, q, k, v);
        round(out, lse);
    }

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                            Tensor q, Tensor k, Tensor v) {
        inner.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v);
        round(dq, dk, dv);
    }

    @Override public void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) {
        inner.outProjectionForward(out, x, ag, wOut, bOut);
        round(out);
    }

    @Override public void outProjectionBackward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut) {
        inner.outProjectionBackward(dag, dwOut, dbOut, dout, ag, wOut);
        round(dag, dwOut, dbOut);
    }

    // ---- loss and optimiser: float32 (the loss in double), the logits' gradient rounded ----------

    @Override public double lossForwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        double loss = inner.lossForwardBackward(logits, targets, dlogits, kind);
        round(dlogits);
        return loss;
    }

    /**
     * The compute copy must be one of this backend's BF16 tensors. The wrapped backend writes it
     * already rounded (float32 storage holding bf16 values: the contract of {@link Backend#adamw}),
     * so it needs no rounding here; masters and moments are F32 and are not rounded.
     */
    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor copy, float lr, float beta1,
                                float beta2, float eps, float weightDecay, float gradScale, int step) {
        requireBf16Copy(copy);
        inner.adamw(param, grad, m, v, copy, lr, beta1, beta2, eps, weightDecay, gradScale, step);
        round(param, m, v);
    }

    private void requireBf16Copy(Tensor copy) {
        if (copy != null && !isBf16(copy))
            throw new IllegalArgumentException("the optimiser's compute copy " + copy + " is not a BF16 tensor of this "
                    + "backend; allocate it with allocate(DType.BF16, ...) (the model's bf16 weights)");
    }

    @Override public void queueLoss(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        inner.queueLoss(logits, targets, dlogits, kind);
        round(dlogits);
    }

    @Override public double queuedLoss() { return inner.queuedLoss(); }
    @Override public void setAdamwStep(float lr, int stepsDone) { inner.setAdamwStep(lr, stepsDone); }

    /** As {@link #adamw}: the copy, BF16 here, is written rounded by the wrapped backend in the update's pass. */
    @Override public void queueAdamw(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor copy, List<AdamwRange> ranges,
                                     float beta1, float beta2, float eps, float clipNorm) {
        requireBf16Copy(copy);
        inner.queueAdamw(params, grads, m, v, copy, ranges, beta1, beta2, eps, clipNorm);
        round(params, m, v);
    }

    @Override public double queuedGradNorm() { return inner.queuedGradNorm(); }
    @Override public Recording record(Runnable work) { return inner.record(work); }

    @Override public void close() { inner.close(); }
}
