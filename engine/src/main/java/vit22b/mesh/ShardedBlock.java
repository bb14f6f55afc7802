package vit22b.mesh;

import java.util.function.DoubleSupplier;

import vit22b.backend.Backend;
import vit22b.mesh.TaskGraph.Task;
import vit22b.model.Buffers;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * One parallel block on one device (i, j) of a t x k mesh (paper section 3), built from Backend
 * ops applied to shards. Between blocks the residual stream is sharded over tokens along the
 * model axis: this device holds r = (B/t) N / k rows of its data shard. Forward:
 * <ol>
 * <li>y = Norm(x) on the local rows;</li>
 * <li>in-projection as an all-gather collective matmul: pre = gather(y) @ W_in_j^T, where W_in_j
 *     holds the rows of this shard's M/k MLP units and H/k heads of q, k, v (a valid
 *     in-projection with fewer heads and a smaller MLP);</li>
 * <li>GELU(h + b_mlp_j), QK-norm and attention over the shard's heads, for all rows of the data shard;</li>
 * <li>out-projection as a matmul reduce-scatter: partial sums [a_j | g_j] @ W_out_j^T over the
 *     shard's columns, reduced over the model axis and scattered back to token rows;</li>
 * <li>x' = x + that + b_out.</li>
 * </ol>
 * Backward mirrors it: all-gather matmul of dx' for d[a|g] and dW_out_j (chunk by chunk),
 * matmul reduce-scatter of dpre @ W_in_j for dy (accumulating dW_in_j chunk by chunk).
 * Gradients of the replicated vectors (in_norm, q/k norm scales, b_out) are partial sums over
 * the model axis until {@link #reduceGradients} all-reduces them and reduce-scatters everything
 * over the data axis. Parameters live sharded over the data axis as well: each device stores
 * 1/t of its model shard, updates only that piece ({@link #optimizerStep}) and all-gathers the
 * model shard before compute ({@link #gatherParams}).
 */
public final class ShardedBlock implements AutoCloseable {
    private final Backend be;
    private final Communicator comm;
    private final ModelConfig c;
    private final Mesh mesh;
    private final ShardLayout lay;
    private final Buffers buf;
    private final int imgs, rows, r, piece;
    private final boolean centered;

    /** Flat shard parameters and gradients, padded to a multiple of t for the data-axis collectives. */
    private final Tensor params, grads, gPiece, m, v;
    private final Tensor inNorm, wIn, bMlp, qS, kS, wOut, bOut;
    private final Tensor gInNorm, gWIn, gBMlp, gQS, gKS, gWOut, gBOut;

    // Activations (this data shard's rows unless "local").
    private final Tensor yLoc, normStats, yFull, pre, hC, hb, gC, qh, kh, vh, qn, kn, qStats, kStats, ag, lse, proj, fullOut;
    private final Tensor part0, part1, recv, doutFull, dag, dq, dk, dv, dgC, dhb, dqh, dkh, dpre, dyLoc, fullDy, rep, repScratch;

    /** Imports one block for shard (i, j) from the unsharded parameters (ParamLayout order). */
    public ShardedBlock(Backend be, Communicator comm, ModelConfig c, int batch, float[] fullBlockParams) {
        this.be = be;
        this.comm = comm;
        this.c = c;
        this.mesh = comm.mesh();
        mesh.checkShards(c, batch);
        int k = mesh.model(), t = mesh.data();
        this.lay = new ShardLayout(c, k, comm.index(Axis.MODEL));
        this.imgs = batch / t;
        this.rows = imgs * c.tokens();
        this.r = rows / k;
        this.centered = c.norm() == NormKind.LAYER;
        this.buf = new Buffers(be);
        this.piece = (int) ((lay.size() + t - 1) / t);
        int padded = piece * t;
        params = buf.get(padded);
        grads = buf.get(padded);
        gPiece = buf.get(piece);
        m = buf.get(piece);
        v = buf.get(piece);
        // Parameters are sharded over the data axis too: this device stores only its piece until
        // gatherParams() assembles the model shard for compute.
        float[] p = java.util.Arrays.copyOf(lay.extract(fullBlockParams), padded);
        int i = comm.index(Axis.DATA);
        java.util.Arrays.fill(p, 0, i * piece, 0f);
        java.util.Arrays.fill(p, (i + 1) * piece, padded, 0f);
        be.upload(params, p);
        int d = c.width(), hd = c.headDim(), ml = lay.ml(), dl = lay.dl(), hl = lay.hl(), n = c.tokens();
        inNorm = params.view(lay.inNorm(), d);          gInNorm = grads.view(lay.inNorm(), d);
        wIn = params.view(lay.wIn(), lay.inRows(), d);   gWIn = grads.view(lay.wIn(), lay.inRows(), d);
        bMlp = params.view(lay.bMlp(), ml);              gBMlp = grads.view(lay.bMlp(), ml);
        qS = params.view(lay.qScale(), hd);              gQS = grads.view(lay.qScale(), hd);
        kS = params.view(lay.kScale(), hd);              gKS = grads.view(lay.kScale(), hd);
        wOut = params.view(lay.wOut(), d, lay.outCols()); gWOut = grads.view(lay.wOut(), d, lay.outCols());
        bOut = params.view(lay.bOut(), d);               gBOut = grads.view(lay.bOut(), d);

        yLoc = buf.get(r, d);  normStats = buf.get(r, 2);  yFull = buf.get(rows, d);
        pre = buf.get(rows, lay.inRows());
        hC = buf.get(rows, ml);  hb = buf.get(rows, ml);  gC = buf.get(rows, ml);
        qh = buf.get(imgs, hl, n, hd);  kh = buf.get(imgs, hl, n, hd);  vh = buf.get(imgs, hl, n, hd);
        qn = buf.get(imgs, hl, n, hd);  kn = buf.get(imgs, hl, n, hd);
        qStats = buf.get(imgs * hl * n, 2);  kStats = buf.get(imgs * hl * n, 2);
        ag = buf.get(rows, lay.outCols());  lse = buf.get(imgs, hl, n);
        proj = buf.get(r, d);  fullOut = buf.get(rows, d);
        part0 = buf.get(r, d);  part1 = buf.get(r, d);  recv = buf.get(r, d);
        doutFull = buf.get(rows, d);  dag = buf.get(rows, lay.outCols());
        dq = buf.get(imgs, hl, n, hd);  dk = buf.get(imgs, hl, n, hd);  dv = buf.get(imgs, hl, n, hd);
        dgC = buf.get(rows, ml);  dhb = buf.get(rows, ml);
        dqh = buf.get(imgs * hl * n, hd);  dkh = buf.get(imgs * hl * n, hd);
        dpre = buf.get(rows, lay.inRows());  dyLoc = buf.get(r, d);  fullDy = buf.get(rows, d);
        int repSize = 2 * d + 2 * hd;
        rep = buf.get((repSize + k - 1) / k * k);
        repScratch = buf.get((int) rep.size());
    }

    public ShardLayout layout() { return lay; }
    public int localRows() { return r; }
    public Tensor params() { return params.view(0, (int) lay.size()); }
    public Tensor grads() { return grads.view(0, (int) lay.size()); }
    /** This device's piece of the summed gradients after {@link #reduceGradients}: [i * piece, (i+1) * piece) of the padded flat. */
    public Tensor gradPiece() { return gPiece; }
    public int piece() { return piece; }

    /** Adds the forward to g: out (r, D) = block(x (r, D)), both this device's token rows. */
    public Task forward(TaskGraph g, Tensor x, Tensor out, Task dep) {
        int d = c.width(), ml = lay.ml(), dl = lay.dl(), hl = lay.hl(), in = lay.inRows(), oc = lay.outCols();
        Task t = g.compute("norm", Cost.elementwise((double) r * d, 1, 1, 4, 4),
                () -> be.normForward(yLoc, normStats, x, inNorm, null, centered, ModelConfig.EPS), dep);
        t = CollectiveMatmul.allGatherMatmul(g, "in-proj", mesh, Axis.MODEL, new CollectiveMatmul.Shape(r, d, in, 4), null,
                new CollectiveMatmul.AgBind(be, comm, yLoc, yFull, (row, rowsT) ->
                        be.linearForward(pre.view((long) row * in, rowsT.dim(0), in), rowsT, wIn, null)), t);
        t = g.compute("gelu+qk-norm", Cost.elementwise((double) rows * (ml + 3 * dl), 1, 2, 4, 10), () -> {
            be.toHeads(hC, pre, 0, imgs, 1);
            be.broadcastRows(hb, bMlp);
            be.add(hb, hC);
            be.geluForward(gC, hb, c.gelu());
            be.toHeads(qh, pre, ml, imgs, hl);
            be.toHeads(kh, pre, ml + dl, imgs, hl);
            be.toHeads(vh, pre, ml + 2 * dl, imgs, hl);
            be.normForward(rows2(qn), qStats, rows2(qh), qS, null, centered, ModelConfig.EPS);
            be.normForward(rows2(kn), kStats, rows2(kh), kS, null, centered, ModelConfig.EPS);
        }, t);
        t = g.compute("attention", Cost.compute(4.0 * imgs * hl * c.tokens() * c.tokens() * c.headDim(), 0), () -> {
            be.zero(ag);
            be.attentionForward(ag, lse, qn, kn, vh);
            be.fromHeads(ag, dl, gC, imgs, 1);
        }, t);
        t = CollectiveMatmul.matmulReduceScatter(g, "out-proj", mesh, Axis.MODEL, new CollectiveMatmul.Shape(r, oc, d, 4),
                new CollectiveMatmul.RsBind(be, comm, (row, o) -> be.linearForward(o, ag.view((long) row * oc, o.dim(0), oc), wOut, null),
                        proj, part0, part1, recv, fullOut), t);
        return g.compute("residual", Cost.elementwise((double) r * d, 3, 1, 4, 2), () -> {
            be.broadcastRows(out, bOut);
            be.add(out, x);
            be.add(out, proj);
        }, t);
    }

    /**
     * Adds the backward to g: from dout (r, D) = dL/d(out), writes dx (r, D) = dL/dx (residual
     * included) and accumulates this shard's gradients (zeroed first).
     */
    public Task backward(TaskGraph g, Tensor x, Tensor dout, Tensor dx, Task dep) {
        int d = c.width(), ml = lay.ml(), dl = lay.dl(), hl = lay.hl(), in = lay.inRows(), oc = lay.outCols();
        Task t = g.compute("residual-grad", Cost.elementwise((double) r * d, 1, 1, 4, 1), () -> {
            be.zero(grads);
            be.copy(dx, dout);
            be.sumRows(gBOut, dout);
            be.zero(dag);
        }, dep);
        t = CollectiveMatmul.allGatherMatmul(g, "out-proj.bwd", mesh, Axis.MODEL, new CollectiveMatmul.Shape(r, d, oc, 4),
                Cost.matmul(oc, r, d, 4), new CollectiveMatmul.AgBind(be, comm, dout, doutFull, (row, rowsT) ->
                        be.linearBackward(dag.view((long) row * oc, rowsT.dim(0), oc), gWOut, null, rowsT,
                                ag.view((long) row * oc, rowsT.dim(0), oc), wOut)), t);
        t = g.compute("attention.bwd", Cost.compute(8.0 * imgs * hl * c.tokens() * c.tokens() * c.headDim(), 0), () -> {
            be.zero(dq);
            be.zero(dk);
            be.zero(dv);
            be.attentionBackward(dq, dk, dv, dag, ag, lse, qn, kn, vh);
        }, t);
        t = g.compute("gelu+qk-norm.bwd", Cost.elementwise((double) rows * (ml + 3 * dl), 3, 1, 4, 20), () -> {
            be.toHeads(dgC, dag, dl, imgs, 1);
            be.zero(dhb);
            be.geluBackward(dhb, dgC, hb, c.gelu());
            be.sumRows(gBMlp, dhb);
            be.zero(dqh);
            be.zero(dkh);
            be.normBackward(dqh, gQS, null, rows2(dq), rows2(qh), qS, qStats, centered);
            be.normBackward(dkh, gKS, null, rows2(dk), rows2(kh), kS, kStats, centered);
            be.zero(dpre);
            be.fromHeads(dpre, 0, dhb, imgs, 1);
            be.fromHeads(dpre, ml, dqh, imgs, hl);
            be.fromHeads(dpre, ml + dl, dkh, imgs, hl);
            be.fromHeads(dpre, ml + 2 * dl, dv, imgs, hl);
        }, t);
        t = CollectiveMatmul.matmulReduceScatter(g, "in-proj.bwd", mesh, Axis.MODEL, new CollectiveMatmul.Shape(r, in, d, 4),
                new CollectiveMatmul.RsBind(be, comm, (row, o) -> {
                    be.zero(o);
                    be.linearBackward(o, gWIn, null, dpre.view((long) row * in, o.dim(0), in),
                            yFull.view((long) row * d, o.dim(0), d), wIn);
                }, dyLoc, part0, part1, recv, fullDy), t);
        return g.compute("norm.bwd", Cost.elementwise((double) r * d, 3, 1, 4, 8),
                () -> be.normBackward(dx, gInNorm, null, dyLoc, x, inNorm, normStats, centered), t);
    }

    /**
     * Adds the gradient reductions: replicated vectors all-reduced over the model axis, then the
     * whole flat gradient reduce-scattered over the data axis (this device keeps {@link #gradPiece}).
     */
    public Task reduceGradients(TaskGraph g, Task dep) {
        int d = c.width(), hd = c.headDim();
        Task t = g.comm("grads.all-reduce.model", Cost.collective(Cost.Kind.ALL_REDUCE, Axis.MODEL, rep.size() * 4.0), () -> {
            be.copy(rep.view(0, d), gInNorm);
            be.copy(rep.view(d, hd), gQS);
            be.copy(rep.view(d + hd, hd), gKS);
            be.copy(rep.view(d + 2L * hd, d), gBOut);
            comm.allReduce(Axis.MODEL, rep, repScratch).await();
            be.copy(gInNorm, rep.view(0, d));
            be.copy(gQS, rep.view(d, hd));
            be.copy(gKS, rep.view(d + hd, hd));
            be.copy(gBOut, rep.view(d + 2L * hd, d));
        }, dep);
        return g.comm("grads.reduce-scatter.data", Cost.collective(Cost.Kind.REDUCE_SCATTER, Axis.DATA, grads.size() * 4.0),
                () -> comm.reduceScatter(Axis.DATA, gradPiece(), grads).await(), t);
    }

    /**
     * The sum of squares of this device's piece of the summed gradients (a share of the global
     * gradient norm), counting the replicated vectors, the same on the k model shards, only on
     * model index 0.
     */
    public double gradSumSquares() {
        long start = (long) comm.index(Axis.DATA) * piece;
        long[] cuts = {0, lay.wIn(), lay.qScale(), lay.wOut(), lay.bOut(), lay.size()};
        double s = 0;
        for (int q = 0; q + 1 < cuts.length; q++) {
            if (lay.replicated(cuts[q]) && comm.index(Axis.MODEL) != 0) continue;
            long from = Math.max(start, cuts[q]), to = Math.min(start + piece, cuts[q + 1]);
            if (from < to) s += be.sumSquares(gPiece.view(from - start, (int) (to - from)));
        }
        return s;
    }

    /**
     * Adds the all-gather over the data axis that assembles this device's model shard from the
     * pieces the data group stores. On the communication queue it runs while earlier work
     * computes: issue it for the next layer before the current layer's compute (one layer ahead).
     */
    public Task gatherParams(TaskGraph g, Task after) {
        return g.comm("params.all-gather.data", Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, params.size() * 2.0),
                () -> comm.allGather(Axis.DATA, params, ownPiece()).await(), after);
    }

    /**
     * Adds AdamW on this device's piece of the parameters (its data-axis shard of its model
     * shard), kernels decayed, vectors not; {@code gradScale} (global-norm clipping) is read
     * when the task runs.
     */
    public Task optimizerStep(TaskGraph g, Task dep, AdamW.Config cfg, float lr, DoubleSupplier gradScale, int step) {
        return g.compute("adamw", Cost.elementwise(piece, 4, 3, 4, 12), () -> ShardedAdamW.step(be, lay.decayRuns(),
                (long) comm.index(Axis.DATA) * piece, ownPiece(), gradPiece(), m, v, cfg, lr, (float) gradScale.getAsDouble(), step), dep);
    }

    private Tensor ownPiece() { return params.view((long) comm.index(Axis.DATA) * piece, piece); }

    @Override public void close() { buf.close(); }

    private static Tensor rows2(Tensor headMajor) {
        return headMajor.reshape((int) (headMajor.size() / headMajor.dim(-1)), headMajor.dim(-1));
    }
}
