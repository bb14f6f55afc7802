package vit22b.model;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * The parallel pre-norm block (DESIGN.md): {@code y = Norm(x)}; one fused in-projection gives
 * the MLP's GELU output and the QK-normed heads; attention writes beside the GELU output in
 * {@code ag = [a | g]}; one fused out-projection adds {@code ag @ W_out^T + b_out} to x.
 */
final class Block {
    private Block() {}

    static void forward(Backend be, ModelConfig c, int batch, BlockParams w, Tensor x, Tensor out,
                        Activations.Layer a) {
        be.normForward(a.y(), a.normStats(), x, w.inNorm(), null, c.norm() == NormKind.LAYER, ModelConfig.EPS);
        be.inProjectionForward(c, batch, a.y(), w.wIn(), w.bMlp(), w.qScale(), w.kScale(),
                a.pre(), a.ag(), a.q(), a.k(), a.v(), a.qkStats());
        be.attentionForward(a.ag(), a.lse(), a.q(), a.k(), a.v());
        be.outProjectionForward(out, x, a.ag(), w.wOut(), w.bOut());
    }

    /**
     * On entry {@code s.dx} holds dL/d(out); on return dL/dx (the residual path carries it
     * through, the norm's gradient is added). Accumulates the block's gradients into g.
     */
    static void backward(Backend be, ModelConfig c, int batch, BlockParams w, BlockParams g, Tensor x,
                         Activations.Layer a, Activations s) {
        be.zero(s.dag);
        be.outProjectionBackward(s.dag, g.wOut(), g.bOut(), s.dx, a.ag(), w.wOut());
        be.zero(s.dq);
        be.zero(s.dk);
        be.zero(s.dv);
        be.attentionBackward(s.dq, s.dk, s.dv, s.dag, a.ag(), a.lse(), a.q(), a.k(), a.v());
        be.zero(s.dy);
        be.inProjectionBackward(c, batch, s.dag, s.dq, s.dk, s.dv, a.y(), w.wIn(), w.bMlp(), w.qScale(), w.kScale(),
                a.pre(), a.qkStats(), s.dpre, s.dy, g.wIn(), g.bMlp(), g.qScale(), g.kScale());
        be.normBackward(s.dx, g.inNorm(), null, s.dy, x, w.inNorm(), a.normStats(), c.norm() == NormKind.LAYER);
    }
}
