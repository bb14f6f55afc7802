package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;

import vit22b.backend.Backend;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/** The reference backend: host memory, OpenBLAS GEMMs, everything else in Java. */
public final class CpuBackend implements Backend {

    @Override public String name() { return "cpu"; }

    /** The host segment behind a tensor (offset applied), for the op classes of this package. */
    static MemorySegment seg(Tensor t) {
        if (!(t.storage() instanceof HostStorage h))
            throw new IllegalArgumentException("tensor " + t + " is not in host memory");
        return h.segment().asSlice(t.offset() * Float.BYTES, t.size() * Float.BYTES);
    }

    @Override public Tensor allocate(int... shape) {
        return new Tensor(new HostStorage(Tensor.sizeOf(shape)), 0, shape);
    }

    @Override public void free(Tensor t) { t.storage().close(); }

    @Override public void upload(Tensor dst, float[] src) {
        if (src.length != dst.size()) throw new IllegalArgumentException("upload of " + src.length + " floats into " + dst);
        MemorySegment.copy(src, 0, seg(dst), HostStorage.F32, 0, src.length);
    }

    @Override public float[] download(Tensor src) {
        return seg(src).toArray(HostStorage.F32);
    }

    @Override public void zero(Tensor t) { seg(t).fill((byte) 0); }

    @Override public void copy(Tensor dst, Tensor src) {
        if (dst.size() != src.size()) throw new IllegalArgumentException("copy " + src + " -> " + dst);
        MemorySegment.copy(seg(src), 0, seg(dst), 0, src.size() * Float.BYTES);
    }

    @Override public void add(Tensor dst, Tensor src) { throw todo(); }
    @Override public void scale(Tensor t, float s) { throw todo(); }
    @Override public double sumSquares(Tensor t) { throw todo(); }
    @Override public void synchronize() { }

    @Override public void patchEmbedForward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) { throw todo(); }
    @Override public void patchEmbedBackward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) { throw todo(); }
    @Override public void normForward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps) { throw todo(); }
    @Override public void normBackward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale, Tensor stats, boolean centered) { throw todo(); }
    @Override public void linearForward(Tensor out, Tensor in, Tensor w, Tensor bias) { throw todo(); }
    @Override public void linearBackward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) { throw todo(); }
    @Override public void geluForward(Tensor out, Tensor in, GeluKind kind) { throw todo(); }
    @Override public void geluBackward(Tensor din, Tensor dout, Tensor in, GeluKind kind) { throw todo(); }
    @Override public void broadcastRows(Tensor dst, Tensor src) { throw todo(); }
    @Override public void sumRows(Tensor dst, Tensor src) { throw todo(); }
    @Override public void toHeads(Tensor dst, Tensor src, int col, int batch, int heads) { throw todo(); }
    @Override public void fromHeads(Tensor dst, int col, Tensor src, int batch, int heads) { throw todo(); }
    @Override public void inProjectionForward(ModelConfig c, int batch, Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale, Tensor pre, Tensor ag, Tensor q, Tensor k, Tensor v, Tensor qkStats) { throw todo(); }
    @Override public void inProjectionBackward(ModelConfig c, int batch, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor y, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale, Tensor pre, Tensor qkStats, Tensor dpre, Tensor dy, Tensor dwIn, Tensor dbMlp, Tensor dqScale, Tensor dkScale) { throw todo(); }
    @Override public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) { throw todo(); }
    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) { throw todo(); }
    @Override public void outProjectionForward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) { throw todo(); }
    @Override public void outProjectionBackward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut) { throw todo(); }
    @Override public double lossForwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) { throw todo(); }
    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, int step) { throw todo(); }

    @Override public void close() { }

    private static UnsupportedOperationException todo() {
        return new UnsupportedOperationException("CPU op not implemented yet");
    }
}
