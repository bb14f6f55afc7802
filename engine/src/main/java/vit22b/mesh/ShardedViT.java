package vit22b.mesh;

import java.util.Arrays;
import java.util.List;

import vit22b.backend.Backend;
import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph.Task;
import vit22b.graph.TaskGraph;
import vit22b.model.Block;
import vit22b.model.BlockParams;
import vit22b.model.Buffers;
import vit22b.model.Head;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.ParamLayout;
import vit22b.model.Shard;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * The whole model's training step on one device (i, j) of a t x k mesh: what
 * {@link vit22b.model.ViT#forwardBackward} followed by {@link AdamW#step} does on one device,
 * with the batch split over the data axis and the blocks over the model axis. The step's task
 * graph is built by one program ({@link #trainStep}); {@link #plan} builds the same graph with
 * nothing bound, which the simulator times.
 * <ol>
 * <li>Patch embedding of the data shard's B/t images, replicated over the model axis; the
 *     device keeps its r = (B/t) N / k token rows.</li>
 * <li>The {@link Block} program on the local rows, layer by layer. Each layer's weights are
 *     all-gathered over the data axis one layer ahead (at most two layers in flight), again
 *     for backward; with recomputation a block's forward is re-run before its backward.</li>
 * <li>The final tokens all-gathered over the model axis; the {@link Head} (final norm, MAP head,
 *     classifier, loss) replicated over the model axis, each data shard on its own images. The
 *     loss is the mean over the GLOBAL batch: this shard's mean weighs 1/t.</li>
 * <li>Backward through all of it; each layer's gradients are reduced as soon as its backward
 *     ends: the vectors every model shard holds whole all-reduced over the model axis, the
 *     layer's flat reduce-scattered over the data axis. The head's and the patch embedding's
 *     gradients are the same on the k devices of a model group (block 0's input gradient is
 *     all-gathered over the model axis first), so they need the data axis only.</li>
 * <li>The global gradient norm from a sum of squares gathered over the whole mesh; AdamW with
 *     clipping and weight-decay groups on each device's pieces.</li>
 * </ol>
 * Parameters live sharded over the data axis (blocks: also over the model axis): a device
 * stores 1/t of its model shard's flat (padded to a multiple of t) and updates only that piece.
 */
public final class ShardedViT implements AutoCloseable {
    private final ModelConfig c;
    private final Mesh mesh;
    private final Shard shard;
    private final boolean remat;
    private final ParamLayout blockLayout, restLayout;
    private final int blockPiece, restPiece;

    // Bound state: all null in a plan (a graph for the simulator).
    private final Backend be;
    private final Communicator comm;
    private final AdamW.Config opt;
    private final List<Backend.AdamwRange> blockRanges, restRanges;
    private final Buffers buf;
    /** Per layer: the model shard's flat (padded; this device's piece until gathered), gradients, piece of summed gradients, moments. */
    private final Tensor[] params, grads, gPiece, m, v;
    private final BlockParams[] w, g;
    private final Block.Saved[] saved;
    private final Block.Scratch scratch;
    /** Gradients of the vectors every model shard holds whole, packed for one all-reduce; scratch for it. */
    private final Tensor rep, repScratch;
    private final Tensor rest, restGrads, restGPiece, restM, restV;
    private final Head.Params headW, headG;
    private final Tensor patchW, patchB, pos, gPatchW, gPatchB, gPos;
    private final Head head;
    // Activations: x0Full (this data shard's rows), x[l] (local rows) enter block l; xLFull the gathered top.
    private final Tensor x0Full, xLFull, dxLFull, dA, dB, dEmbed, scalar, rowSums, dataSums;
    private final Tensor[] x;

    private int step;
    private double loss, gradNorm;
    private float gradScale;

    /** Imports the model for the device of {@code comm} from its unsharded parameters (ParamLayout order). */
    public ShardedViT(Backend be, Communicator comm, ModelConfig c, int batch, float[] fullParams, AdamW.Config opt) {
        this(be, comm, c, batch, fullParams, opt, false);
    }

    /**
     * As {@link #ShardedViT(Backend, Communicator, ModelConfig, int, float[], AdamW.Config)}; with
     * {@code remat} the blocks keep only their inputs and re-run their forward before backward.
     */
    public ShardedViT(Backend be, Communicator comm, ModelConfig c, int batch, float[] fullParams, AdamW.Config opt,
                      boolean remat) {
        this(c, comm.mesh(), batch, remat, be, comm, fullParams, opt);
    }

    /**
     * The task graph of one training step on a device of {@code mesh} with nothing bound (no
     * bodies), its costs counting {@code bytes} per activation or weight element: what the
     * simulator times. {@link #trainStep} builds the same graph with bodies.
     */
    public static TaskGraph plan(ModelConfig c, Mesh mesh, int batch, boolean overlap, boolean remat, int bytes) {
        TaskGraph g = new TaskGraph(overlap, bytes);
        new ShardedViT(c, mesh, batch, remat, null, null, null, null).emit(g, null, null, 0f, null);
        return g;
    }

    private ShardedViT(ModelConfig c, Mesh mesh, int batch, boolean remat, Backend be, Communicator comm,
                       float[] fullParams, AdamW.Config opt) {
        Shard.check(c, mesh, batch);
        if (c.classes() == 0 && be != null)   // a plan times the step whatever the classifier
            throw new IllegalArgumentException("model '" + c.name() + "' has no classifier (0 classes), so no loss to train; "
                    + "give the model a number of classes");
        int t = mesh.data(), k = mesh.model(), depth = c.depth();
        this.c = c;
        this.mesh = mesh;
        this.remat = remat;
        this.shard = new Shard(c, k, comm == null ? 0 : comm.index(Axis.MODEL), batch / t);
        this.blockLayout = ParamLayout.blockShard(c, k);
        this.restLayout = ParamLayout.withoutBlocks(c);
        this.blockPiece = pieceOf(blockLayout.total(), t);
        this.restPiece = pieceOf(restLayout.total(), t);
        this.be = be;
        this.comm = comm;
        this.opt = opt;
        params = new Tensor[depth];
        grads = new Tensor[depth];
        gPiece = new Tensor[depth];
        m = new Tensor[depth];
        v = new Tensor[depth];
        w = new BlockParams[depth];
        g = new BlockParams[depth];
        saved = new Block.Saved[depth];
        x = new Tensor[depth + 1];
        if (be == null) {   // a plan: shapes only
            blockRanges = restRanges = null;
            buf = null;
            scratch = null;
            rep = repScratch = rest = restGrads = restGPiece = restM = restV = null;
            headW = headG = null;
            patchW = patchB = pos = gPatchW = gPatchB = gPos = null;
            head = null;
            x0Full = xLFull = dxLFull = dA = dB = dEmbed = scalar = rowSums = dataSums = null;
            return;
        }
        ParamLayout full = new ParamLayout(c);
        if (fullParams.length != full.total())
            throw new IllegalArgumentException(fullParams.length + " parameters given for model '" + c.name()
                    + "', which has " + full.total());
        this.blockRanges = AdamW.ranges(blockLayout, opt);
        this.restRanges = AdamW.ranges(restLayout, opt);
        this.buf = new Buffers(be);
        int i = comm.index(Axis.DATA), j = shard.j(), d = c.width(), r = shard.localRows(), rows = shard.rows();
        try {
            Block.Saved shared = remat ? Block.saved(buf, shard) : null;
            for (int l = 0; l < depth; l++) {
                params[l] = buf.get(blockPiece * t);
                grads[l] = buf.get(blockPiece * t);
                gPiece[l] = buf.get(blockPiece);
                m[l] = buf.get(blockPiece);
                v[l] = buf.get(blockPiece);
                be.upload(params[l], ownPieceOnly(blockLayout.extractShard(fullParams, l, j), blockPiece, t, i));
                w[l] = BlockParams.ofShard(blockLayout, unpadded(params[l], blockLayout));
                g[l] = BlockParams.ofShard(blockLayout, unpadded(grads[l], blockLayout));
                saved[l] = remat ? shared : Block.saved(buf, shard);
            }
            scratch = Block.scratch(buf, shard, true);
            int repSize = 0;
            for (ParamLayout.Entry e : blockLayout.entries()) if (blockLayout.whole(e.name())) repSize += (int) e.size();
            rep = buf.get(pieceOf(repSize, k) * k);
            repScratch = buf.get((int) rep.size());
            rest = buf.get(restPiece * t);
            restGrads = buf.get(restPiece * t);
            restGPiece = buf.get(restPiece);
            restM = buf.get(restPiece);
            restV = buf.get(restPiece);
            be.upload(rest, ownPieceOnly(restLayout.extract(full, fullParams), restPiece, t, i));
            Tensor rp = restParams(), rg = unpadded(restGrads, restLayout);
            headW = Head.Params.of(restLayout, rp);
            headG = Head.Params.of(restLayout, rg);
            patchW = restLayout.view(rp, "patch_embed.proj.weight");  gPatchW = restLayout.view(rg, "patch_embed.proj.weight");
            patchB = restLayout.view(rp, "patch_embed.proj.bias");    gPatchB = restLayout.view(rg, "patch_embed.proj.bias");
            pos = restLayout.view(rp, "pos_embed").reshape(c.tokens(), d);
            gPos = restLayout.view(rg, "pos_embed").reshape(c.tokens(), d);
            head = new Head(buf, c, shard.imgs(), true);
            x0Full = buf.get(rows, d);
            x[0] = ownRows(x0Full);
            for (int l = 1; l <= depth; l++) x[l] = buf.get(r, d);
            xLFull = buf.get(rows, d);
            dxLFull = buf.get(rows, d);
            dA = buf.get(r, d);
            dB = buf.get(r, d);
            dEmbed = buf.get(rows, d);
            scalar = buf.get(2);
            rowSums = buf.get(k);
            dataSums = buf.get(2 * t);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private static int pieceOf(long size, int parts) { return Math.toIntExact((size + parts - 1) / parts); }

    /** The flat padded to {@code piece * t} floats with everything but data index i's piece zeroed: what the device stores. */
    private static float[] ownPieceOnly(float[] flat, int piece, int t, int i) {
        float[] p = Arrays.copyOf(flat, piece * t);
        Arrays.fill(p, 0, i * piece, 0f);
        Arrays.fill(p, (i + 1) * piece, p.length, 0f);
        return p;
    }

    private static Tensor unpadded(Tensor padded, ParamLayout l) { return padded.view(0, Math.toIntExact(l.total())); }

    /** The layout of one model shard's block flat ({@link ParamLayout#blockShard}). */
    public ParamLayout blockLayout() { return blockLayout; }
    public ParamLayout restLayout() { return restLayout; }
    /** Block l's model-shard parameters (valid after {@link #gatherParams}). */
    public Tensor blockParams(int l) { return unpadded(params[l], blockLayout); }
    /** This device's piece of block l's summed gradients: [i * piece, (i+1) * piece) of the padded flat. */
    public Tensor blockGradPiece(int l) { return gPiece[l]; }
    public int blockPiece() { return blockPiece; }
    /** The rest's parameters (valid after {@link #gatherParams}). */
    public Tensor restParams() { return unpadded(rest, restLayout); }
    /** This device's piece of the rest's summed gradients: [i * piece, (i+1) * piece) of the padded flat. */
    public Tensor restGradPiece() { return restGPiece; }
    public int restPiece() { return restPiece; }
    /** What a device stores sharded over the data axis: parameters and the two Adam moments. */
    public enum State { PARAMS, M, V }

    /** This device's piece of block l's parameters or moments: [i * piece, (i+1) * piece) of the model shard's padded flat. */
    public Tensor blockState(int l, State s) {
        return switch (s) { case PARAMS -> ownPiece(params[l], blockPiece); case M -> m[l]; case V -> v[l]; };
    }

    /** This device's piece of the rest's parameters or moments: [i * piece, (i+1) * piece) of its padded flat. */
    public Tensor restState(State s) {
        return switch (s) { case PARAMS -> ownPiece(rest, restPiece); case M -> restM; case V -> restV; };
    }

    /**
     * Continues a run from a checkpoint: {@code stepsDone} updates were made (Adam's bias
     * correction counts on from there) and its moments are {@code fullM}, {@code fullV} (ParamLayout
     * order, the unsharded model's); this device takes its pieces.
     */
    public void resume(int stepsDone, float[] fullM, float[] fullV) {
        ParamLayout full = new ParamLayout(c);
        if (fullM.length != full.total() || fullV.length != full.total())
            throw new IllegalArgumentException("moments of " + fullM.length + " and " + fullV.length + " floats given for model '"
                    + c.name() + "', which has " + full.total() + " parameters");
        int i = comm.index(Axis.DATA), j = shard.j();
        for (int l = 0; l < params.length; l++) {
            be.upload(m[l], piece(blockLayout.extractShard(fullM, l, j), blockPiece, i));
            be.upload(v[l], piece(blockLayout.extractShard(fullV, l, j), blockPiece, i));
        }
        be.upload(restM, piece(restLayout.extract(full, fullM), restPiece, i));
        be.upload(restV, piece(restLayout.extract(full, fullV), restPiece, i));
        step = stepsDone;
    }

    /** Data index i's piece of {@code flat} padded to a multiple of the piece. */
    private float[] piece(float[] flat, int piece, int i) {
        return Arrays.copyOfRange(Arrays.copyOf(flat, piece * mesh.data()), i * piece, (i + 1) * piece);
    }

    /** Mean loss over the global batch of the last step. */
    public double loss() { return loss; }
    /** Global gradient norm (before clipping) of the last step. */
    public double gradNorm() { return gradNorm; }
    public int step() { return step; }

    /** Adds the all-gather of every parameter (e.g. to read the model after a step); returns a task after all of them. */
    public Task gatherParams(TaskGraph g, Task after) {
        Task[] all = new Task[c.depth() + 1];
        all[0] = gatherRest(g, after);
        for (int l = 0; l < c.depth(); l++) all[l + 1] = gatherBlock(g, "block" + l, l, after);
        return g.compute("params.gathered", Cost.compute(0, 0), bound(() -> {}), all);
    }

    /**
     * Adds one training step on this device's data shard: images (B/t, C, S, S) and targets
     * (B/t, classes), the same on the k devices of a model group. After it, {@link #loss},
     * {@link #gradNorm} and the gradient pieces hold the step's values and each device's
     * parameter pieces are updated (gather them with {@link #gatherParams} to read them).
     */
    public Task trainStep(TaskGraph g, Tensor images, Tensor targets, float lr, Task dep) {
        int imgs = shard.imgs(), s = c.imageSize();
        if (images.rank() != 4 || images.dim(0) != imgs || images.dim(1) != c.channels() || images.dim(2) != s
                || images.dim(3) != s || targets.rank() != 2 || targets.dim(0) != imgs
                || targets.dim(1) != c.classes())
            throw new IllegalArgumentException("images " + images + " and targets " + targets + " must hold this data shard's "
                    + imgs + " images (" + imgs + ", " + c.channels() + ", " + s + ", " + s + ") and (" + imgs + ", " + c.classes() + ") targets");
        return emit(g, images, targets, lr, dep);
    }

    /** The step program: bodies when this model is bound, costs only in a {@link #plan}. */
    private Task emit(TaskGraph gr, Tensor images, Tensor targets, float lr, Task dep) {
        int d = c.width(), t = mesh.data(), depth = c.depth(), rows = shard.rows(), by = gr.bytes();
        int cpp = c.channels() * c.patch() * c.patch(), stepNo = ++step;
        Task restW = gatherRest(gr, dep);
        Task prev = gr.compute("patch-embed", Cost.matmul(rows, cpp, d, by),
                bound(() -> be.patchEmbedForward(x0Full, images, patchW, patchB, pos, c.patch())), restW);
        Task[] layerEnd = new Task[depth];
        for (int l = 0; l < depth; l++) {
            // This layer's weights travel while the previous layer computes, but not before the
            // layer two back has finished (two layers of gathered weights at most).
            Task weights = gatherBlock(gr, "fwd" + l, l, l >= 2 ? layerEnd[l - 2] : null, dep);
            layerEnd[l] = prev = Block.forward(gr, "fwd" + l + ".", shard, bind(l), x[l], x[l + 1], prev, weights);
        }
        prev = gr.comm("tokens.all-gather.model", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, (double) rows * d * by),
                bound(() -> comm.allGather(Axis.MODEL, xLFull, x[depth]).await()), prev);
        // Final norm, MAP head and classifier forward and backward (2x), patch embedding's backward below.
        double headFlops = ModelStats.embedAndHeadForwardFlops(c) - 2.0 * c.tokens() * cpp * d;
        prev = gr.compute("head+loss", Cost.compute(3 * headFlops * shard.imgs(), 6.0 * rows * d * by), bound(() -> {
            be.zero(restGrads);
            head.features(be, headW, xLFull);
            head.classify(be, headW);
            head.queueLoss(be, targets);
            loss = be.queuedLoss();
            head.backward(be, headW, headG, xLFull, dxLFull, 1f / t);
        }), prev);

        // Backward, last layer first. The comm queue is in order, so layer l-1's weights are
        // requested before layer l's gradient reductions (else the gather would wait for them).
        Task[] reduced = new Task[depth + 1], weights = new Task[depth];
        weights[depth - 1] = gatherBlock(gr, "bwd" + (depth - 1), depth - 1, null);
        Tensor dout = be == null ? null : ownRows(dxLFull);
        for (int l = depth - 1; l >= 0; l--) {
            if (l > 0) weights[l - 1] = gatherBlock(gr, "bwd" + (l - 1), l - 1, l + 1 < depth ? layerEnd[l + 1] : null);
            if (remat) prev = Block.forward(gr, "remat" + l + ".", shard, bind(l), x[l], x[l + 1], prev, weights[l]);
            Tensor dx = (depth - 1 - l) % 2 == 0 ? dA : dB;
            layerEnd[l] = prev = Block.backward(gr, "bwd" + l + ".", shard, bind(l), x[l], dout, dx, prev, weights[l]);
            reduced[l] = reduceBlockGrads(gr, l, prev);
            dout = dx;
        }
        Tensor d0 = dout;
        prev = gr.comm("embed-grad.all-gather.model", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, (double) rows * d * by),
                bound(() -> comm.allGather(Axis.MODEL, dEmbed, d0).await()), prev);
        prev = gr.compute("patch-embed.bwd", Cost.matmul(cpp, rows, d, by),
                bound(() -> be.patchEmbedBackward(gPatchW, gPatchB, gPos, dEmbed, images, c.patch())), prev);
        reduced[depth] = gr.comm("rest.grads.reduce-scatter.data",
                Cost.collective(Cost.Kind.REDUCE_SCATTER, Axis.DATA, (double) restPiece * t * Float.BYTES),
                bound(() -> comm.reduceScatter(Axis.DATA, restGPiece, restGrads).await()), prev);
        Task o = gr.comm("grad-norm+loss.all-gather", Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, 8.0 * t),
                bound(() -> globalNormAndLoss(t)), reduced);
        for (int l = 0; l < depth; l++) {
            int layer = l;
            o = gr.compute("adamw" + l, Cost.elementwise(blockPiece, 4, 3, Float.BYTES, 12), bound(() ->
                    AdamW.updatePiece(be, blockRanges, (long) comm.index(Axis.DATA) * blockPiece, ownPiece(params[layer], blockPiece),
                            gPiece[layer], m[layer], v[layer], opt, lr, gradScale, stepNo)), o);
        }
        return gr.compute("rest.adamw", Cost.elementwise(restPiece, 4, 3, Float.BYTES, 12), bound(() ->
                AdamW.updatePiece(be, restRanges, (long) comm.index(Axis.DATA) * restPiece, ownPiece(rest, restPiece),
                        restGPiece, restM, restV, opt, lr, gradScale, stepNo)), o);
    }

    /** Block l's tensors, or null in a plan. */
    private Block.Bind bind(int l) {
        return be == null ? null : new Block.Bind(be, comm, w[l], g[l], grads[l], saved[l], scratch);
    }

    /** The body when this model is bound, else none. */
    private Runnable bound(Runnable r) { return be == null ? null : r; }

    /**
     * The all-gather over the data axis that assembles block l's model shard from the pieces
     * the data group stores; on the communication queue it runs while earlier work computes.
     */
    private Task gatherBlock(TaskGraph gr, String name, int l, Task... after) {
        return gr.comm(name + ".params.all-gather.data",
                Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, (double) blockPiece * mesh.data() * gr.bytes()),
                bound(() -> comm.allGather(Axis.DATA, params[l], ownPiece(params[l], blockPiece)).await()), after);
    }

    private Task gatherRest(TaskGraph gr, Task after) {
        return gr.comm("rest.params.all-gather.data",
                Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, (double) restPiece * mesh.data() * gr.bytes()),
                bound(() -> comm.allGather(Axis.DATA, rest, ownPiece(rest, restPiece)).await()), after);
    }

    /**
     * Block l's gradient reductions: the vectors every model shard holds whole (partial sums
     * over the model axis) all-reduced, then the layer's flat reduce-scattered over the data axis
     * (this device keeps its piece). Gradients travel in fp32.
     */
    private Task reduceBlockGrads(TaskGraph gr, int l, Task dep) {
        double repBytes = 0;
        for (ParamLayout.Entry e : blockLayout.entries()) if (blockLayout.whole(e.name())) repBytes += e.size() * Float.BYTES;
        Task t = gr.comm("bwd" + l + ".grads.all-reduce.model", Cost.collective(Cost.Kind.ALL_REDUCE, Axis.MODEL, repBytes),
                bound(() -> {
                    Tensor flat = unpadded(grads[l], blockLayout);
                    long at = 0;
                    for (ParamLayout.Entry e : blockLayout.entries())
                        if (blockLayout.whole(e.name())) {
                            be.copy(rep.view(at, (int) e.size()), flat.view(e.offset(), (int) e.size()));
                            at += e.size();
                        }
                    comm.allReduce(Axis.MODEL, rep, repScratch).await();
                    at = 0;
                    for (ParamLayout.Entry e : blockLayout.entries())
                        if (blockLayout.whole(e.name())) {
                            be.copy(flat.view(e.offset(), (int) e.size()), rep.view(at, (int) e.size()));
                            at += e.size();
                        }
                }), dep);
        return gr.comm("bwd" + l + ".grads.reduce-scatter.data",
                Cost.collective(Cost.Kind.REDUCE_SCATTER, Axis.DATA, (double) blockPiece * mesh.data() * Float.BYTES),
                bound(() -> comm.reduceScatter(Axis.DATA, gPiece[l], grads[l]).await()), t);
    }

    /**
     * The global gradient norm: each device's sum of squares of its gradient pieces (what the k
     * devices of a model group hold alike, the rest's piece and the blocks' whole vectors, only
     * on model index 0), summed over the model axis, then over the data axis together with the
     * data shards' losses. Sets the clipping factor the AdamW tasks read.
     */
    private void globalNormAndLoss(int t) {
        boolean first = comm.index(Axis.MODEL) == 0;
        double sq = first ? be.sumSquares(restGPiece) : 0;
        long start = (long) comm.index(Axis.DATA) * blockPiece;
        for (int l = 0; l < c.depth(); l++)
            for (ParamLayout.Entry e : blockLayout.entries()) {
                if (blockLayout.whole(e.name()) && !first) continue;
                long from = Math.max(start, e.offset()), to = Math.min(start + blockPiece, e.offset() + e.size());
                if (from < to) sq += be.sumSquares(gPiece[l].view(from - start, (int) (to - from)));
            }
        be.upload(scalar.view(0, 1), new float[]{(float) sq});
        comm.allGather(Axis.MODEL, rowSums, scalar.view(0, 1)).await();
        double row = 0;
        for (float s : be.download(rowSums)) row += s;
        be.upload(scalar, new float[]{(float) loss, (float) row});
        comm.allGather(Axis.DATA, dataSums, scalar).await();
        float[] all = be.download(dataSums);
        double total = 0, lossSum = 0;
        for (int i = 0; i < t; i++) {
            lossSum += all[2 * i];
            total += all[2 * i + 1];
        }
        loss = lossSum / t;
        gradNorm = Math.sqrt(total);
        if (!Double.isFinite(gradNorm))
            throw new IllegalStateException("gradient norm is " + gradNorm + " at step " + step
                    + "; lower the learning rate or check the inputs");
        gradScale = opt.clipFactor(gradNorm);
    }

    private Tensor ownRows(Tensor full) {
        int r = shard.localRows();
        return full.view((long) comm.index(Axis.MODEL) * r * c.width(), r, c.width());
    }

    private Tensor ownPiece(Tensor padded, int piece) { return padded.view((long) comm.index(Axis.DATA) * piece, piece); }

    @Override public void close() {
        if (buf != null) buf.close();
    }
}
