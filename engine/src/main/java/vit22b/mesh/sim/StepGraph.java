package vit22b.mesh.sim;

import vit22b.mesh.Axis;
import vit22b.mesh.CollectiveMatmul;
import vit22b.mesh.Cost;
import vit22b.mesh.Mesh;
import vit22b.mesh.TaskGraph;
import vit22b.mesh.TaskGraph.Task;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;

/**
 * The task graph of one training step of a ViT-22B-recipe model on one device of a t x k mesh
 * (paper section 3), for simulation:
 * <ul>
 * <li>between blocks, activations are sharded over tokens along the model axis; the fused
 *     in-projection is an all-gather collective matmul over heads/MLP units, the fused
 *     out-projection a collective matmul reduce-scatter of partial sums;</li>
 * <li>parameters (fp32 master, Adam moments) are sharded over both axes; a layer's bf16 weights
 *     are all-gathered over the data axis one layer ahead (forward and again in backward) and its
 *     gradients reduce-scattered over the data axis as soon as its backward ends;</li>
 * <li>with recomputation, a block's forward is re-run before its backward;</li>
 * <li>the AdamW step runs on each device's shard.</li>
 * </ul>
 * Activations and wire traffic are bf16; gradients are reduced in fp32.
 */
public final class StepGraph {
    private StepGraph() {}

    static final int BF16 = 2, FP32 = 4;

    /** Parameters of one block: in-norm, W_in, MLP bias, q/k norms, W_out, out bias. */
    public static double blockParams(ModelConfig c) {
        double d = c.width(), m = c.mlp();
        return d + (m + 3 * d) * d + m + 2.0 * c.headDim() + d * (d + m) + d;
    }

    public static TaskGraph build(ModelConfig c, Mesh mesh, int batch, boolean overlap, boolean remat) {
        mesh.checkShards(c, batch);
        TaskGraph g = new TaskGraph(overlap);
        int t = mesh.data(), k = mesh.model();
        double d = c.width();
        int imgs = batch / t;
        int rows = imgs * c.tokens();                 // token rows of this data shard
        int r = rows / k;                             // rows this device holds between blocks
        int ml = c.mlp() / k, dl = c.width() / k, hl = c.heads() / k, hd = c.headDim();
        double layerShard = blockParams(c) / k;       // this model shard's part of one block
        double otherParams = new vit22b.model.ParamLayout(c).total() - c.depth() * blockParams(c);

        Task prev = g.compute("patch-embed", Cost.matmul(r, c.channels() * c.patch() * c.patch(), d, BF16), null);
        Task[] gathered = new Task[c.depth()];
        Task[] layerEnd = new Task[c.depth()];
        for (int l = 0; l < c.depth(); l++) {
            // Gather this layer's weights while the previous layer computes, but not before the
            // layer two back has finished (two layers of gathered weights at most).
            gathered[l] = gatherParams(g, "fwd" + l, t, layerShard, l >= 2 ? layerEnd[l - 2] : null);
            layerEnd[l] = prev = blockForward(g, "fwd" + l, c, mesh, imgs, r, ml, dl, hl, hd, prev, gathered[l]);
        }
        Task head = g.comm("head.gather-tokens", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, (double) rows * d * BF16), null, prev);
        prev = g.compute("head", Cost.compute(3.0 * ModelStats.embedAndHeadForwardFlops(c) * imgs, 0), null, head);

        // Backward, last layer first. The comm queue is in order, so layer l-1's weights are
        // requested before layer l's gradient reduce-scatter (else the gather would wait for it).
        Task lastGrad = null;
        Task[] w = new Task[c.depth()];
        w[c.depth() - 1] = gatherParams(g, "bwd" + (c.depth() - 1), t, layerShard, null);
        for (int l = c.depth() - 1; l >= 0; l--) {
            if (l > 0) w[l - 1] = gatherParams(g, "bwd" + (l - 1), t, layerShard, l + 1 < c.depth() ? layerEnd[l + 1] : null);
            if (remat) prev = blockForward(g, "remat" + l, c, mesh, imgs, r, ml, dl, hl, hd, prev, w[l]);
            layerEnd[l] = prev = blockBackward(g, "bwd" + l, c, mesh, imgs, r, ml, dl, hl, hd, prev, w[l]);
            if (t > 1)
                lastGrad = g.comm("bwd" + l + ".grad-reduce-scatter",
                        Cost.collective(Cost.Kind.REDUCE_SCATTER, Axis.DATA, layerShard * FP32), null, prev);
        }
        if (t > 1)
            lastGrad = g.comm("other.grad-reduce-scatter",
                    Cost.collective(Cost.Kind.REDUCE_SCATTER, Axis.DATA, otherParams * FP32), null, prev, lastGrad);
        double shard = (c.depth() * layerShard + otherParams) / t;
        g.compute("adamw", Cost.elementwise(shard, 4, 3, FP32, 12), null, prev, lastGrad);
        return g;
    }

    private static Task gatherParams(TaskGraph g, String name, int t, double layerShard, Task after) {
        if (t == 1) return null;
        return g.comm(name + ".params-all-gather", Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, layerShard * BF16), null, after);
    }

    private static Task blockForward(TaskGraph g, String p, ModelConfig c, Mesh mesh, int imgs, int r,
                                     int ml, int dl, int hl, int hd, Task in, Task weights) {
        int d = c.width(), k = mesh.model(), rows = r * k;
        double n = c.tokens();
        Task x = g.compute(p + ".norm", Cost.elementwise((double) r * d, 1, 1, BF16, 4), null, in, weights);
        x = CollectiveMatmul.allGatherMatmul(g, p + ".in-proj", mesh, Axis.MODEL,
                new CollectiveMatmul.Shape(r, d, ml + 3 * dl, BF16), null, null, x);
        x = g.compute(p + ".gelu+qk-norm", Cost.elementwise((double) rows * (ml + 2 * dl), 1, 1, BF16, 10), null, x);
        x = g.compute(p + ".attention", attention(imgs * hl, n, hd, 1), null, x);
        x = CollectiveMatmul.matmulReduceScatter(g, p + ".out-proj", mesh, Axis.MODEL,
                new CollectiveMatmul.Shape(r, dl + ml, d, BF16), null, x);
        return g.compute(p + ".residual", Cost.elementwise((double) r * d, 2, 1, BF16, 2), null, x);
    }

    private static Task blockBackward(TaskGraph g, String p, ModelConfig c, Mesh mesh, int imgs, int r,
                                      int ml, int dl, int hl, int hd, Task in, Task weights) {
        int d = c.width(), k = mesh.model(), rows = r * k;
        double n = c.tokens();
        // d[a|g] = gather(dy) @ W_out_shard, and per gathered chunk dW_out += chunk^T @ [a|g] rows.
        Task x = CollectiveMatmul.allGatherMatmul(g, p + ".out-proj", mesh, Axis.MODEL,
                new CollectiveMatmul.Shape(r, d, dl + ml, BF16), Cost.matmul(dl + ml, r, d, BF16), null, in, weights);
        x = g.compute(p + ".attention", attention(imgs * hl, n, hd, 2), null, x);
        x = g.compute(p + ".gelu+qk-norm", Cost.elementwise((double) rows * (ml + 2 * dl), 2, 1, BF16, 20), null, x);
        Task dw = g.compute(p + ".in-proj.dW", Cost.matmul(ml + 3 * dl, rows, d, BF16), null, x);
        x = CollectiveMatmul.matmulReduceScatter(g, p + ".in-proj", mesh, Axis.MODEL,
                new CollectiveMatmul.Shape(r, ml + 3 * dl, d, BF16), null, dw);
        return g.compute(p + ".norm", Cost.elementwise((double) r * d, 3, 1, BF16, 8), null, x);
    }

    /**
     * Softmax attention of {@code heads} (image, head) pairs, not fused: logits and probabilities
     * go through HBM. Backward ({@code times} 2) is twice the matmuls and the softmax traffic.
     */
    private static Cost attention(double heads, double n, double hd, int times) {
        Cost.Compute mm = (Cost.Compute) Cost.matmul(n, hd, n, BF16);
        Cost.Compute sm = (Cost.Compute) Cost.elementwise(n * n, 1, 1, BF16, 5);
        return Cost.compute(times * heads * (2 * mm.flops() + sm.flops()), times * heads * (2 * mm.bytes() + sm.bytes()));
    }
}
