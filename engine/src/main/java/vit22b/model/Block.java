package vit22b.model;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * One block (DESIGN.md). The paper's parallel pre-norm block runs on the backend's fused ops:
 * {@code y = Norm(x)}; one fused in-projection gives the MLP's GELU output and the QK-normed
 * heads; attention writes beside the GELU output in {@code ag = [a | g]}; one fused
 * out-projection adds {@code ag @ W_out^T + b_out} to x.
 *
 * <p>The other {@link Variant}s are composed of the backend's general ops, each projection
 * still one GEMM: the in-projection is a Linear (with the biases variant's bias) whose
 * columns are split into heads (and the MLP's units in the parallel block), QK-norm (when on)
 * is a norm over head rows, and the out-projection the same fused op. The sequential block
 * runs that attention half into a middle residual {@code x1}, then {@code x1 + MLP(Norm2(x1))}.
 */
final class Block {
    private Block() {}

    static void forward(Backend be, ModelConfig c, int batch, BlockParams w, Tensor x, Tensor out,
                        Activations.Layer a) {
        boolean centered = c.norm() == NormKind.LAYER;
        if (c.variant().isPaper()) {
            be.normForward(a.y(), a.normStats(), x, w.inNorm(), null, centered, ModelConfig.EPS);
            be.inProjectionForward(c, batch, a.y(), w.wIn(), w.bMlp(), w.qScale(), w.kScale(),
                    a.pre(), a.ag(), a.q(), a.k(), a.v(), a.qkStats());
            be.attentionForward(a.ag(), a.lse(), a.q(), a.k(), a.v());
            be.outProjectionForward(out, x, a.ag(), w.wOut(), w.bOut());
            return;
        }
        boolean parallel = c.variant().parallel();
        int d = c.width(), m = c.mlp(), base = parallel ? m : 0;   // q's first column in pre
        be.normForward(a.y(), a.normStats(), x, w.inNorm(), w.inNormB(), centered, ModelConfig.EPS);
        be.linearForward(a.pre(), a.y(), w.wIn(), w.bIn());
        be.zero(a.ag());   // fromHeads accumulates
        if (parallel) {
            be.toHeads(mlpHeads(c, batch, a.h()), a.pre(), 0, batch, 1);
            if (w.bMlp() != null) {   // without the biases variant the MLP bias is separate from W_in
                be.broadcastRows(a.g(), w.bMlp());
                be.add(a.h(), a.g());
            }
            be.geluForward(a.g(), a.h(), c.gelu());
            be.fromHeads(a.ag(), d, mlpHeads(c, batch, a.g()), batch, 1);
        }
        heads(be, c, batch, w, a, base, centered);
        be.attentionForward(a.ag(), a.lse(), a.q(), a.k(), a.v());
        Tensor x1 = parallel ? out : a.x1();
        be.outProjectionForward(x1, x, a.ag(), w.wOut(), w.bOut());
        if (parallel) return;
        be.normForward(a.y2(), a.norm2Stats(), x1, w.norm2(), w.norm2B(), centered, ModelConfig.EPS);
        be.linearForward(a.h(), a.y2(), w.wFc1(), w.bFc1());
        be.geluForward(a.g(), a.h(), c.gelu());
        be.outProjectionForward(out, x1, a.g(), w.wFc2(), w.bFc2());
    }

    /** q, k, v head-major from pre's columns [base, base + 3D), q and k normed per head when QK-norm is on. */
    private static void heads(Backend be, ModelConfig c, int batch, BlockParams w, Activations.Layer a, int base,
                              boolean centered) {
        int d = c.width(), h = c.heads();
        boolean qkNorm = c.variant().qkNorm();
        be.toHeads(qkNorm ? a.qRaw() : a.q(), a.pre(), base, batch, h);
        be.toHeads(qkNorm ? a.kRaw() : a.k(), a.pre(), base + d, batch, h);
        be.toHeads(a.v(), a.pre(), base + 2 * d, batch, h);
        if (!qkNorm) return;
        be.normForward(rows(a.q()), qkStats(a, 0), rows(a.qRaw()), w.qScale(), w.qBias(), centered, ModelConfig.EPS);
        be.normForward(rows(a.k()), qkStats(a, 1), rows(a.kRaw()), w.kScale(), w.kBias(), centered, ModelConfig.EPS);
    }

    /**
     * On entry {@code s.dx} holds dL/d(out); on return dL/dx (the residual path carries it
     * through, the norm's gradient is added). Accumulates the block's gradients into g.
     */
    static void backward(Backend be, ModelConfig c, int batch, BlockParams w, BlockParams g, Tensor x,
                         Activations.Layer a, Activations s) {
        boolean centered = c.norm() == NormKind.LAYER;
        if (c.variant().isPaper()) {
            attentionBackward(be, w, g, a, s);
            be.zero(s.dy);
            be.inProjectionBackward(c, batch, s.dag, s.dq, s.dk, s.dv, a.y(), w.wIn(), w.bMlp(), w.qScale(), w.kScale(),
                    a.pre(), a.qkStats(), s.dpre, s.dy, g.wIn(), g.bMlp(), g.qScale(), g.kScale());
            be.normBackward(s.dx, g.inNorm(), null, s.dy, x, w.inNorm(), a.normStats(), centered);
            return;
        }
        boolean parallel = c.variant().parallel(), qkNorm = c.variant().qkNorm();
        int d = c.width(), hh = c.heads(), base = parallel ? c.mlp() : 0;
        if (!parallel) {   // the MLP half first: s.dx becomes dL/dx1
            be.zero(s.dg);
            be.outProjectionBackward(s.dg, g.wFc2(), g.bFc2(), s.dx, a.g(), w.wFc2());
            be.zero(s.dh);
            be.geluBackward(s.dh, s.dg, a.h(), c.gelu());
            be.zero(s.dy);
            be.linearBackward(s.dy, g.wFc1(), g.bFc1(), s.dh, a.y2(), w.wFc1());
            be.normBackward(s.dx, g.norm2(), g.norm2B(), s.dy, a.x1(), w.norm2(), a.norm2Stats(), centered);
        }
        attentionBackward(be, w, g, a, s);
        be.zero(s.dpre);   // fromHeads accumulates
        if (qkNorm) {
            be.zero(s.dqRaw);
            be.zero(s.dkRaw);
            be.normBackward(rows(s.dqRaw), g.qScale(), g.qBias(), rows(s.dq), rows(a.qRaw()), w.qScale(), qkStats(a, 0), centered);
            be.normBackward(rows(s.dkRaw), g.kScale(), g.kBias(), rows(s.dk), rows(a.kRaw()), w.kScale(), qkStats(a, 1), centered);
        }
        be.fromHeads(s.dpre, base, qkNorm ? s.dqRaw : s.dq, batch, hh);
        be.fromHeads(s.dpre, base + d, qkNorm ? s.dkRaw : s.dk, batch, hh);
        be.fromHeads(s.dpre, base + 2 * d, s.dv, batch, hh);
        if (parallel) {
            be.toHeads(mlpHeads(c, batch, s.dg), s.dag, d, batch, 1);
            be.zero(s.dh);
            be.geluBackward(s.dh, s.dg, a.h(), c.gelu());
            if (g.bMlp() != null) be.sumRows(g.bMlp(), s.dh);
            be.fromHeads(s.dpre, 0, mlpHeads(c, batch, s.dh), batch, 1);
        }
        be.zero(s.dy);
        be.linearBackward(s.dy, g.wIn(), g.bIn(), s.dpre, a.y(), w.wIn());
        be.normBackward(s.dx, g.inNorm(), g.inNormB(), s.dy, x, w.inNorm(), a.normStats(), centered);
    }

    /**
     * Every variant's attention half, backward: s.dx (dL/d(out) of the out-projection) gives s.dag
     * and the out-projection's gradients, then s.dq, s.dk, s.dv through attention.
     */
    private static void attentionBackward(Backend be, BlockParams w, BlockParams g, Activations.Layer a, Activations s) {
        be.zero(s.dag);
        be.outProjectionBackward(s.dag, g.wOut(), g.bOut(), s.dx, a.ag(), w.wOut());
        be.zero(s.dq);
        be.zero(s.dk);
        be.zero(s.dv);
        be.attentionBackward(s.dq, s.dk, s.dv, s.dag, a.ag(), a.lse(), a.q(), a.k(), a.v());
    }

    /** A (T, M) MLP tensor as one "head" of M columns, the shape toHeads/fromHeads take. */
    private static Tensor mlpHeads(ModelConfig c, int batch, Tensor t) {
        return t.reshape(batch, 1, c.tokens(), c.mlp());
    }

    /** A head-major (B, H, N, hd) tensor as rows of hd, the shape the norm ops take. */
    private static Tensor rows(Tensor t) {
        return t.reshape(t.dim(0) * t.dim(1) * t.dim(2), t.dim(3));
    }

    /** Plane 0 (q) or 1 (k) of the QK-norm statistics (2, B, H, N, 2) as (B*H*N, 2). */
    private static Tensor qkStats(Activations.Layer a, int plane) {
        Tensor st = a.qkStats();
        int r = st.dim(1) * st.dim(2) * st.dim(3);
        return st.view((long) plane * r * 2, r, 2);
    }
}
