package vit22b.backend;

import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;

/** The whole in-projection as the block runs it unsharded: the GEMM, then the epilogue (backward the reverse). */
public final class InProjections {
    private InProjections() {}

    public static void forward(Backend be, ModelConfig c, int batch, Tensor y, Tensor wIn, Tensor bMlp, Tensor qs,
                               Tensor ks, Tensor pre, Tensor ag, Tensor q, Tensor k, Tensor v, Tensor stats) {
        be.linearForward(pre, y, wIn, null);
        be.inProjectionEpilogueForward(shape(c, batch, y), pre, bMlp, qs, ks, ag, q, k, v, stats, c.gelu(),
                c.norm() == NormKind.LAYER);
    }

    /** The shape of the whole block's in-projection over y's token rows (their count need not be the config's). */
    private static Backend.InProj shape(ModelConfig c, int batch, Tensor y) {
        return new Backend.InProj(batch, (int) (y.size() / c.width() / batch), c.mlp(), c.heads(), c.headDim());
    }

    /** dpre is scratch; accumulates dy, dwIn, dbMlp, dqs, dks. */
    public static void backward(Backend be, ModelConfig c, int batch, Tensor dag, Tensor dq, Tensor dk, Tensor dv,
                                Tensor y, Tensor wIn, Tensor bMlp, Tensor qs, Tensor ks, Tensor pre, Tensor stats,
                                Tensor dpre, Tensor dy, Tensor dwIn, Tensor dbMlp, Tensor dqs, Tensor dks) {
        be.inProjectionEpilogueBackward(shape(c, batch, y), dag, dq, dk, dv, pre, bMlp, qs, ks, stats, dpre,
                dbMlp, dqs, dks, c.gelu(), c.norm() == NormKind.LAYER);
        be.linearBackward(dy, dwIn, null, dpre, y, wIn);
    }
}
