package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import vit22b.backend.Backend;
import vit22b.io.DType;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.tensor.Bf16;
import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/**
 * The reference backend: host memory, OpenBLAS GEMMs, everything else in Java. The model ops
 * compute on F32 tensors; BF16 tensors serve the memory ops and {@link #cast}.
 */
public final class CpuBackend implements Backend {

    @Override public String name() { return "cpu"; }

    /** The host segment behind a tensor (offset applied), for the op classes of this package. */
    static MemorySegment seg(Tensor t) { return HostStorage.segmentOf(t); }

    @Override public Tensor allocate(int... shape) { return allocate(DType.F32, shape); }

    @Override public Tensor allocate(DType dtype, int... shape) {
        return new Tensor(new HostStorage(dtype, Tensor.sizeOf(shape)), 0, shape);
    }

    @Override public void free(Tensor t) { t.storage().close(); }

    /** Host memory available (zero-filling pages past it gets the process killed rather than refused). */
    @Override public long freeBytes() { return HostStorage.availableBytes(); }

    @Override public void upload(Tensor dst, float[] src) {
        if (src.length != dst.size()) throw new IllegalArgumentException("upload of " + src.length + " floats into " + dst);
        if (dst.dtype() == DType.F32) {
            MemorySegment.copy(src, 0, seg(dst), HostStorage.F32, 0, src.length);
            return;
        }
        MemorySegment d = HostStorage.bytesOf(dst);
        for (int i = 0; i < src.length; i++) d.setAtIndex(HostStorage.BF16, i, Bf16.fromFloat(src[i]));
    }

    @Override public void upload(Tensor dst, MemorySegment src, DType srcType) {
        long n = Backend.requireUpload(dst, src, srcType);
        MemorySegment d = HostStorage.bytesOf(dst);
        ValueLayout from = srcType.fileLayout();
        if (srcType == dst.dtype()) {   // byte order swapped only where the host's is not little-endian
            MemorySegment.copy(src, from, 0, d, dst.dtype() == DType.F32 ? HostStorage.F32 : HostStorage.BF16, 0, n);
        } else if (dst.dtype() == DType.BF16) {
            for (long i = 0; i < n; i++) d.setAtIndex(HostStorage.BF16, i, Bf16.fromFloat(src.getAtIndex(DType.LE_F32, i)));
        } else {
            for (long i = 0; i < n; i++) d.setAtIndex(HostStorage.F32, i, Bf16.toFloat(src.getAtIndex(DType.LE_16, i)));
        }
    }

    @Override public float[] download(Tensor src) {
        if (src.dtype() == DType.F32) return seg(src).toArray(HostStorage.F32);
        MemorySegment s = HostStorage.bytesOf(src);
        float[] out = new float[Math.toIntExact(src.size())];
        for (int i = 0; i < out.length; i++) out[i] = Bf16.toFloat(s.getAtIndex(HostStorage.BF16, i));
        return out;
    }

    @Override public void zero(Tensor t) { HostStorage.bytesOf(t).fill((byte) 0); }

    @Override public void copy(Tensor dst, Tensor src) {
        if (dst.size() != src.size() || dst.dtype() != src.dtype())
            throw new IllegalArgumentException("copy " + src + " -> " + dst + ": sizes or element types differ (cast converts types)");
        MemorySegment.copy(HostStorage.bytesOf(src), 0, HostStorage.bytesOf(dst), 0, src.bytes());
    }

    @Override public void cast(Tensor dst, Tensor src) { Cast.cast(dst, src); }

    @Override public void roundToBf16(Tensor t) { Cast.roundToBf16(t); }

    @Override public void add(Tensor dst, Tensor src) { Elementwise.add(dst, src); }
    @Override public void scale(Tensor t, float s) { Elementwise.scale(t, s); }
    @Override public double sumSquares(Tensor t) { return Elementwise.sumSquares(t); }
    @Override public void synchronize() { }

    @Override public void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) {
        PatchEmbed.forward(out, images, w, b, pos, patch);
    }

    @Override public void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) {
        PatchEmbed.backward(dw, db, dpos, dout, images, patch);
    }

    @Override public void normForward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps) {
        Norms.forward(out, stats, x, scale, bias, centered, eps);
    }

    @Override public void normBackward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale,
                                       Tensor stats, boolean centered) {
        Norms.backward(dx, dscale, dbias, dout, x, scale, stats, centered);
    }

    @Override public void linearForward(Tensor out, Tensor in, Tensor w, Tensor bias) { Linear.forward(out, in, w, bias); }

    @Override public void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        Linear.backward(din, dw, dbias, dout, in, w);
    }

    @Override public void geluForward(Tensor out, Tensor in, GeluKind kind) { Gelu.forward(out, in, kind); }
    @Override public void geluBackward(Tensor din, Tensor dout, Tensor in, GeluKind kind) { Gelu.backward(din, dout, in, kind); }
    @Override public void broadcastRows(Tensor dst, Tensor src) { Elementwise.broadcastRows(dst, src); }
    @Override public void sumRows(Tensor dst, Tensor src) { Elementwise.sumRows(dst, src); }
    @Override public void toHeads(Tensor dst, Tensor src, int col, int batch, int heads) { Elementwise.toHeads(dst, src, col, batch, heads); }
    @Override public void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads) { Elementwise.fromHeads(dst, col, src, batch, heads); }

    @Override public void inProjectionEpilogueForward(InProj s, Tensor pre, Tensor bMlp, Tensor qScale, Tensor kScale,
                                                      Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats,
                                                      GeluKind gelu, boolean centered) {
        InProjection.forward(s, pre, bMlp, qScale, kScale, ag, q, k, v, qkStats, gelu, centered);
    }

    @Override public void inProjectionEpilogueBackward(InProj s, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor pre,
                                                       Tensor bMlp, Tensor qScale, Tensor kScale, Tensor qkStats,
                                                       Tensor dpre, Tensor dbMlp, Tensor dqScale, Tensor dkScale,
                                                       GeluKind gelu, boolean centered) {
        InProjection.backward(s, dag, dq, dk, dv, pre, bMlp, qScale, kScale, qkStats, dpre, dbMlp, dqScale, dkScale,
                gelu, centered);
    }

    @Override public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
        Attention.forward(out, lse, q, k, v);
    }

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                                            Tensor q, Tensor k, Tensor v) {
        Attention.backward(dq, dk, dv, dout, out, lse, q, k, v);
    }

    @Override public void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) {
        OutProjection.forward(out, x, ag, wOut, bOut);
    }

    @Override public void outProjectionBackward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut) {
        OutProjection.backward(dag, dwOut, dbOut, dout, ag, wOut);
    }

    @Override public double lossForwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        return Loss.forwardBackward(logits, targets, dlogits, kind);
    }

    /** The update, then the copy (if any) from the updated parameters: the reference's two passes. */
    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor copy, float lr, float beta1,
                                float beta2, float eps, float weightDecay, float gradScale, int step) {
        if (copy != null) Args.size(copy, param.size(), "adamw: copy");
        AdamW.update(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, gradScale, step);
        if (copy != null) Backend.writeBf16Copy(this, copy, param);
    }

    // ---- the "queued" step: on the CPU everything runs at once; the values wait in fields ----

    private double loss = Double.NaN, gradNorm = Double.NaN;
    private float stepLr;
    private int stepsDone;

    @Override public void queueLoss(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        loss = lossForwardBackward(logits, targets, dlogits, kind);
    }

    @Override public double queuedLoss() { return loss; }

    @Override public void setAdamwStep(float lr, int stepsDone) {
        this.stepLr = lr;
        this.stepsDone = stepsDone;
    }

    @Override public void queueAdamw(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor copy,
                                     java.util.List<AdamwRange> ranges, float beta1, float beta2, float eps, float clipNorm) {
        if (copy != null) Args.size(copy, params.size(), "queueAdamw: copy");
        gradNorm = Math.sqrt(sumSquares(grads));
        if (!Double.isFinite(gradNorm)) return;
        float gradScale = Backend.clipFactor(gradNorm, clipNorm);
        stepsDone++;
        for (AdamwRange r : ranges) {
            int n = Math.toIntExact(r.size());
            adamw(params.view(r.offset(), n), grads.view(r.offset(), n), m.view(r.offset(), n), v.view(r.offset(), n),
                    copy == null ? null : copy.view(r.offset(), n), stepLr, beta1, beta2, eps, r.weightDecay(), gradScale,
                    stepsDone);
        }
    }

    @Override public double queuedGradNorm() { return gradNorm; }

    @Override public void close() { }
}
