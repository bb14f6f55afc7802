package vit22b.model;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * big_vision's MAPHead on a batch: a learned latent attends (H heads, biases on q, k, v and
 * the output projection, no QK-norm, no residual) to the tokens; then
 * {@code feat = p + MLP(LayerNorm(p))} with a centered LayerNorm with scale and bias.
 * The single query is the pooled output (B, D). Holds its activations and backward scratch.
 */
public final class MapHead {
    private final ModelConfig c;
    private final int batch;
    // forward, kept for backward
    private final Tensor lat, qLin, qh, kv, kh, vh, att, lse, p, lnStats, z, h1, g1;
    private final Tensor feat;
    // backward scratch
    private final Tensor dFeat, dg1, dh1, dz, dp, dAtt, dqh, dkh, dvh, dqLin, dLat, dkv;

    /** Allocates the forward buffers, and the backward scratch when {@code training}. */
    public MapHead(Buffers buf, ModelConfig c, int batch, boolean training) {
        this.c = c;
        this.batch = batch;
        int b = batch, t = batch * c.tokens(), d = c.width(), m = c.mlp(), h = c.heads(), n = c.tokens(), hd = c.headDim();
        lat = buf.get(b, d);
        qLin = buf.get(b, d);
        qh = buf.get(b, h, 1, hd);
        kv = buf.get(t, 2 * d);
        kh = buf.get(b, h, n, hd);
        vh = buf.get(b, h, n, hd);
        att = buf.get(b, d);
        lse = buf.f32(b, h, 1);
        p = buf.get(b, d);
        lnStats = buf.f32(b, 2);
        z = buf.get(b, d);
        h1 = buf.get(b, m);
        g1 = buf.get(b, m);
        feat = buf.get(b, d);
        dFeat = training ? buf.get(b, d) : null;
        dg1 = training ? buf.get(b, m) : null;
        dh1 = training ? buf.get(b, m) : null;
        dz = training ? buf.get(b, d) : null;
        dp = training ? buf.get(b, d) : null;
        dAtt = training ? buf.get(b, d) : null;
        dqh = training ? buf.get(b, h, 1, hd) : null;
        dkh = training ? buf.get(b, h, n, hd) : null;
        dvh = training ? buf.get(b, h, n, hd) : null;
        dqLin = training ? buf.get(b, d) : null;
        dLat = training ? buf.get(b, d) : null;
        dkv = training ? buf.get(t, 2 * d) : null;
    }

    /** feat (B, D) from the final-normed tokens xf (B*N, D). */
    public void forward(Backend be, HeadParams w, Tensor xf) {
        int d = c.width(), h = c.heads();
        be.broadcastRows(lat, w.latent());
        be.linearForward(qLin, lat, w.qW(), w.qB());
        be.toHeads(qh, qLin, 0, batch, h);
        be.linearForward(kv, xf, w.kvW(), w.kvB());
        be.toHeads(kh, kv, 0, batch, h);
        be.toHeads(vh, kv, d, batch, h);
        be.attentionForward(att, lse, qh, kh, vh);
        be.linearForward(p, att, w.projW(), w.projB());
        be.normForward(z, lnStats, p, w.normW(), w.normB(), true, ModelConfig.EPS);
        be.linearForward(h1, z, w.fc1W(), w.fc1B());
        be.geluForward(g1, h1, c.gelu());
        be.linearForward(feat, g1, w.fc2W(), w.fc2B());
        be.add(feat, p);
    }

    /** The gradient buffer of feat (B, D), to be written by the caller before {@link #backward}. */
    public Tensor dFeat() { return dFeat; }

    /** The pooled output (B, D) of the last {@link #forward}. */
    public Tensor feat() { return feat; }

    /** Accumulates the head's parameter gradients into g and the tokens' gradient into dxf. */
    public void backward(Backend be, HeadParams w, HeadParams g, Tensor xf, Tensor dxf) {
        int d = c.width(), h = c.heads();
        // feat = p + fc2(gelu(fc1(LN(p))))
        be.zero(dg1);
        be.linearBackward(dg1, g.fc2W(), g.fc2B(), dFeat, g1, w.fc2W());
        be.zero(dh1);
        be.geluBackward(dh1, dg1, h1, c.gelu());
        be.zero(dz);
        be.linearBackward(dz, g.fc1W(), g.fc1B(), dh1, z, w.fc1W());
        be.copy(dp, dFeat);   // the residual
        be.normBackward(dp, g.normW(), g.normB(), dz, p, w.normW(), lnStats, true);
        // p = proj(attention(q(latent), k(xf), v(xf)))
        be.zero(dAtt);
        be.linearBackward(dAtt, g.projW(), g.projB(), dp, att, w.projW());
        be.zero(dqh);
        be.zero(dkh);
        be.zero(dvh);
        be.attentionBackward(dqh, dkh, dvh, dAtt, att, lse, qh, kh, vh);
        be.zero(dqLin);
        be.fromHeads(dqLin, 0, dqh, batch, h);
        be.zero(dLat);
        be.linearBackward(dLat, g.qW(), g.qB(), dqLin, lat, w.qW());
        be.sumRows(g.latent(), dLat);
        be.zero(dkv);
        be.fromHeads(dkv, 0, dkh, batch, h);
        be.fromHeads(dkv, d, dvh, batch, h);
        be.linearBackward(dxf, g.kvW(), g.kvB(), dkv, xf, w.kvW());
    }
}
