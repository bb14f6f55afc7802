package vit22b.mesh;

import java.util.List;

import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;

/**
 * One model shard's flat block parameters (section 3): of a block's
 * [in_norm | W_in | b_mlp | q_norm | k_norm | W_out | b_out] (ParamLayout order), shard j of k
 * holds W_in's rows for its M/k MLP units and H/k heads of q, k and v, the same units of b_mlp,
 * W_out's columns for those heads and units, and the small replicated vectors (in_norm, q/k
 * norm scales, b_out) whose gradients are partial sums over the model axis.
 */
public record ShardLayout(ModelConfig c, int k, int j) {

    public int d() { return c.width(); }
    public int ml() { return c.mlp() / k; }
    public int dl() { return c.width() / k; }
    public int hl() { return c.heads() / k; }
    public int inRows() { return ml() + 3 * dl(); }
    public int outCols() { return dl() + ml(); }

    // Offsets of the pieces in the shard's flat vector.
    public long inNorm() { return 0; }
    public long wIn() { return d(); }
    public long bMlp() { return wIn() + (long) inRows() * d(); }
    public long qScale() { return bMlp() + ml(); }
    public long kScale() { return qScale() + c.headDim(); }
    public long wOut() { return kScale() + c.headDim(); }
    public long bOut() { return wOut() + (long) d() * outCols(); }
    public long size() { return bOut() + d(); }

    /** The weight-decay groups of the shard's flat (kernels decay, vectors do not), as in ParamLayout. */
    List<ShardedAdamW.Run> decayRuns() {
        ParamLayout.Decay none = ParamLayout.Decay.NONE, body = ParamLayout.Decay.BODY;
        return List.of(new ShardedAdamW.Run(inNorm(), d(), none), new ShardedAdamW.Run(wIn(), bMlp() - wIn(), body),
                new ShardedAdamW.Run(bMlp(), wOut() - bMlp(), none), new ShardedAdamW.Run(wOut(), bOut() - wOut(), body),
                new ShardedAdamW.Run(bOut(), d(), none));
    }

    /** True for the offsets of replicated vectors (gradients summed over the model axis). */
    public boolean replicated(long i) {
        return i < wIn() || (i >= qScale() && i < wOut()) || i >= bOut();
    }

    /** The shard's flat vector from an unsharded block's (ParamLayout order, {@code full}). */
    public float[] extract(float[] full) {
        int d = d(), m = c.mlp(), hd = c.headDim();
        float[] s = new float[(int) size()];
        long fIn = d, fB = fIn + (long) c.inProjRows() * d, fQ = fB + m, fK = fQ + hd, fOut = fK + hd, fBo = fOut + (long) d * c.outProjCols();
        System.arraycopy(full, 0, s, 0, d);
        int[] rowStart = {j * ml(), m + j * dl(), m + d + j * dl(), m + 2 * d + j * dl()};
        int[] rowCount = {ml(), dl(), dl(), dl()};
        int at = (int) wIn();
        for (int part = 0; part < 4; part++) {
            System.arraycopy(full, (int) (fIn + (long) rowStart[part] * d), s, at, rowCount[part] * d);
            at += rowCount[part] * d;
        }
        System.arraycopy(full, (int) fB + j * ml(), s, (int) bMlp(), ml());
        System.arraycopy(full, (int) fQ, s, (int) qScale(), hd);
        System.arraycopy(full, (int) fK, s, (int) kScale(), hd);
        for (int row = 0; row < d; row++) {
            long src = fOut + (long) row * c.outProjCols(), dst = wOut() + (long) row * outCols();
            System.arraycopy(full, (int) (src + (long) j * dl()), s, (int) dst, dl());
            System.arraycopy(full, (int) (src + d + (long) j * ml()), s, (int) (dst + dl()), ml());
        }
        System.arraycopy(full, (int) fBo, s, (int) bOut(), d);
        return s;
    }
}
