package vit22b.model;

import java.util.Arrays;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * Everything after the blocks, written once for the unsharded and the sharded model: the final
 * norm of the tokens, big_vision's MAP head ({@link MapHead}), the classifier and the loss,
 * forward and backward, on one device's batch. Holds its activations and backward scratch.
 */
public final class Head {

    /** Views of the head's weights (or gradients) in a flat buffer: final norm (bias nullable), MAP head and classifier. */
    public record Params(Tensor norm, Tensor normBias, HeadParams map) {
        public static Params of(ParamLayout l, Tensor flat) {
            return new Params(l.view(flat, "norm.weight"), l.has("norm.bias") ? l.view(flat, "norm.bias") : null,
                    HeadParams.of(l, flat));
        }
    }

    private final ModelConfig c;
    private final Tensor finalStats, xf, logits, dlogits, dxf;
    private final MapHead map;

    /** Allocates the buffers for {@code batch} images; backward's too when {@code training}. */
    public Head(Buffers buf, ModelConfig c, int batch, boolean training) {
        this.c = c;
        int t = batch * c.tokens(), d = c.width();
        finalStats = buf.f32(t, 2);
        xf = buf.get(t, d);
        map = new MapHead(buf, c, batch, training);
        logits = c.classes() > 0 ? buf.get(batch, c.classes()) : null;
        dlogits = c.classes() > 0 ? buf.get(batch, c.classes()) : null;   // the loss writes it, also without backward
        dxf = training ? buf.get(t, d) : null;
    }

    /** The MAP head's pooled output (B, D) of the tokens x (B*N, D) after the final norm. */
    public Tensor features(Backend be, Params w, Tensor x) {
        be.normForward(xf, finalStats, x, w.norm(), w.normBias(), c.norm() == NormKind.LAYER, ModelConfig.EPS);
        map.forward(be, w.map(), xf);
        return map.feat();
    }

    /** The pooled output (B, D) of the last {@link #features(Backend, Params, Tensor)}. */
    public Tensor features() { return map.feat(); }

    /** The logits (B, classes) of the last {@link #features}. */
    public Tensor classify(Backend be, Params w) {
        if (c.classes() == 0)
            throw new IllegalArgumentException("model '" + c.name() + "' has no classifier (0 classes); "
                    + "use features() or give the model a number of classes");
        be.linearForward(logits, map.feat(), w.map().headW(), w.map().headB());
        return logits;
    }

    /** Queues the loss of the last {@link #classify} against targets (B, classes) ({@link Backend#queuedLoss} reads it). */
    public void queueLoss(Backend be, Tensor targets) {
        if (!Arrays.equals(targets.shape(), logits.shape()))
            throw new IllegalArgumentException("targets " + targets + " do not match logits " + logits
                    + "; give one row of " + c.classes() + " class weights per image");
        be.queueLoss(logits, targets, dlogits, c.loss());
    }

    /**
     * Backward from the loss of the last {@link #queueLoss}, its gradient scaled by
     * {@code lossScale} (a data shard's share of a global mean): accumulates the head's
     * gradients into g and WRITES dx (B*N, D), the gradient of the tokens x.
     */
    public void backward(Backend be, Params w, Params g, Tensor x, Tensor dx, float lossScale) {
        if (lossScale != 1f) be.scale(dlogits, lossScale);
        Tensor dFeat = map.dFeat();
        be.zero(dFeat);
        be.linearBackward(dFeat, g.map().headW(), g.map().headB(), dlogits, map.feat(), w.map().headW());
        be.zero(dxf);
        map.backward(be, w.map(), g.map(), xf, dxf);
        be.zero(dx);
        be.normBackward(dx, g.norm(), g.normBias(), dxf, x, w.norm(), finalStats, c.norm() == NormKind.LAYER);
    }
}
