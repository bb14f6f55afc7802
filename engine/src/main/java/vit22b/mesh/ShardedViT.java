package vit22b.mesh;

import java.util.Arrays;
import java.util.List;

import vit22b.backend.Backend;
import vit22b.mesh.TaskGraph.Task;
import vit22b.model.Buffers;
import vit22b.model.HeadParams;
import vit22b.model.MapHead;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * The whole model's training step on one device (i, j) of a t x k mesh: what
 * {@link vit22b.model.ViT#forwardBackward} followed by {@link AdamW#step} does on one device,
 * with the batch split over the data axis and the blocks over the model axis.
 * <ol>
 * <li>Patch embedding of the data shard's B/t images, replicated over the model axis; the
 *     device keeps its r = (B/t) N / k token rows. A device's rows may cut through an image
 *     and the embedding op works on whole images; it is one small matmul next to L blocks.</li>
 * <li>The {@link ShardedBlock} stack on the local rows.</li>
 * <li>The final tokens all-gathered over the model axis; final norm, MAP head, classifier and
 *     loss replicated over the model axis, each data shard on its own images. The loss is the
 *     mean over the GLOBAL batch: this shard's mean weighs 1/t.</li>
 * <li>Backward through all of it. The head's output gradient is the same on the k devices of
 *     a model group, each taking its rows; block 0's input gradient is all-gathered over the
 *     model axis so the patch-embedding gradient, like the head's, is the same on all k
 *     devices. So the parameters outside the blocks ("rest") need no model-axis reduction,
 *     the blocks' replicated vectors do ({@link ShardedBlock#reduceGradients}).</li>
 * <li>Every gradient reduce-scattered over the data axis; the global gradient norm from a sum
 *     of squares gathered over the whole mesh (rest counted once per data piece); AdamW with
 *     clipping and weight-decay groups on each device's pieces.</li>
 * </ol>
 * Parameters live sharded over the data axis (blocks: also over the model axis); a step first
 * all-gathers them ({@link #gatherParams}), block l's gather queued ahead of its compute.
 */
public final class ShardedViT implements AutoCloseable {
    private final Backend be;
    private final Communicator comm;
    private final ModelConfig c;
    private final Mesh mesh;
    private final AdamW.Config opt;
    private final ParamLayout restLayout;
    private final List<ShardedAdamW.Run> restRuns;
    private final ShardedBlock[] blocks;
    private final Buffers buf;
    private final int imgs, rows, r, restPiece;
    private final boolean centered;
    private int step;
    private double loss, gradNorm;
    private float gradScale;

    /** The rest's flat parameters and gradients (padded to a multiple of t), this device's piece and moments. */
    private final Tensor rest, restGrads, restGPiece, restM, restV;
    private final HeadParams headW, headG;
    private final Tensor patchW, patchB, pos, normW, gPatchW, gPatchB, gPos, gNormW;

    // Activations: x0Full (this data shard's rows), x[l] (local rows) enter block l; top: gathered.
    private final Tensor x0Full, xLFull, finalStats, xf, logits, dlogits, dxf, dxLFull, dA, dB, dEmbed, scalar, rowSums, dataSums;
    private final Tensor[] x;
    private final MapHead head;

    /** Imports the model for device {@code dev} from its unsharded parameters (ParamLayout order). */
    public ShardedViT(Backend be, Communicator comm, ModelConfig c, int batch, float[] fullParams, AdamW.Config opt) {
        this.be = be;
        this.comm = comm;
        this.c = c;
        this.mesh = comm.mesh();
        this.opt = opt;
        mesh.checkShards(c, batch);
        if (c.classes() == 0)
            throw new IllegalArgumentException("model '" + c.name() + "' has no classifier (0 classes), so no loss to train; "
                    + "give the model a number of classes");
        ParamLayout full = new ParamLayout(c);
        if (fullParams.length != full.total())
            throw new IllegalArgumentException(fullParams.length + " parameters given for model '" + c.name()
                    + "', which has " + full.total());
        int t = mesh.data(), k = mesh.model(), d = c.width();
        this.restLayout = ParamLayout.withoutBlocks(c);
        this.restRuns = ShardedAdamW.runs(restLayout);
        this.imgs = batch / t;
        this.rows = imgs * c.tokens();
        this.r = rows / k;
        this.centered = c.norm() == NormKind.LAYER;
        this.blocks = new ShardedBlock[c.depth()];
        this.buf = new Buffers(be);
        try {
            for (int l = 0; l < blocks.length; l++) blocks[l] = new ShardedBlock(be, comm, c, batch, blockParams(full, fullParams, l));
            restPiece = (int) ((restLayout.total() + t - 1) / t);
            rest = buf.get(restPiece * t);
            restGrads = buf.get(restPiece * t);
            restGPiece = buf.get(restPiece);
            restM = buf.get(restPiece);
            restV = buf.get(restPiece);
            // Stored sharded over the data axis like the blocks: only this device's piece until gathered.
            float[] p = Arrays.copyOf(restParams(full, fullParams), restPiece * t);
            int i = comm.index(Axis.DATA);
            Arrays.fill(p, 0, i * restPiece, 0f);
            Arrays.fill(p, (i + 1) * restPiece, p.length, 0f);
            be.upload(rest, p);
            Tensor rp = rest.view(0, (int) restLayout.total()), rg = restGrads.view(0, (int) restLayout.total());
            headW = HeadParams.of(restLayout, rp);
            headG = HeadParams.of(restLayout, rg);
            patchW = restLayout.view(rp, "patch_embed.proj.weight");  gPatchW = restLayout.view(rg, "patch_embed.proj.weight");
            patchB = restLayout.view(rp, "patch_embed.proj.bias");    gPatchB = restLayout.view(rg, "patch_embed.proj.bias");
            pos = restLayout.view(rp, "pos_embed").reshape(c.tokens(), d);
            gPos = restLayout.view(rg, "pos_embed").reshape(c.tokens(), d);
            normW = restLayout.view(rp, "norm.weight");               gNormW = restLayout.view(rg, "norm.weight");

            x0Full = buf.get(rows, d);
            x = new Tensor[c.depth() + 1];
            x[0] = ownRows(x0Full);
            for (int l = 1; l <= c.depth(); l++) x[l] = buf.get(r, d);
            xLFull = buf.get(rows, d);
            finalStats = buf.get(rows, 2);
            xf = buf.get(rows, d);
            head = new MapHead(buf, c, imgs, true);
            logits = buf.get(imgs, c.classes());
            dlogits = buf.get(imgs, c.classes());
            dxf = buf.get(rows, d);
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

    /** Block l's flat parameters (its ParamLayout entries, which are contiguous) out of the model's. */
    public static float[] blockParams(ParamLayout full, float[] params, int l) {
        List<ParamLayout.Entry> es = full.entries().stream().filter(e -> e.name().startsWith("blocks." + l + ".")).toList();
        long from = es.getFirst().offset(), to = es.getLast().offset() + es.getLast().size();
        return Arrays.copyOfRange(params, (int) from, (int) to);
    }

    /** The parameters outside the blocks, in {@link ParamLayout#withoutBlocks} order, out of the model's. */
    public static float[] restParams(ParamLayout full, float[] params) {
        ParamLayout rl = ParamLayout.withoutBlocks(full.config());
        float[] out = new float[(int) rl.total()];
        for (ParamLayout.Entry e : rl.entries())
            System.arraycopy(params, (int) full.entry(e.name()).offset(), out, (int) e.offset(), (int) e.size());
        return out;
    }

    public ShardedBlock block(int l) { return blocks[l]; }
    public ParamLayout restLayout() { return restLayout; }
    /** The rest's parameters (valid after {@link #gatherParams}). */
    public Tensor restParams() { return rest.view(0, (int) restLayout.total()); }
    /** This device's piece of the rest's summed gradients: [i * piece, (i+1) * piece) of the padded flat. */
    public Tensor restGradPiece() { return restGPiece; }
    public int restPiece() { return restPiece; }
    /** Mean loss over the global batch of the last step. */
    public double loss() { return loss; }
    /** Global gradient norm (before clipping) of the last step. */
    public double gradNorm() { return gradNorm; }
    public int step() { return step; }

    /**
     * Adds the all-gathers over the data axis that assemble this device's parameters (its model
     * shard of every block, all of the rest) from the pieces the data group stores. Returns the
     * rest's gather and each block's, in that order.
     */
    private Task[] gatherEach(TaskGraph g, Task after) {
        Task[] w = new Task[blocks.length + 1];
        w[0] = g.comm("rest.params.all-gather.data", Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, rest.size() * 4.0),
                () -> comm.allGather(Axis.DATA, rest, ownRestPiece()).await(), after);
        for (int l = 0; l < blocks.length; l++) w[l + 1] = blocks[l].gatherParams(g, after);
        return w;
    }

    /** Adds the all-gather of every parameter (e.g. to read the model after a step); returns a task after all of them. */
    public Task gatherParams(TaskGraph g, Task after) {
        return g.compute("params.gathered", Cost.compute(0, 0), () -> {}, gatherEach(g, after));
    }

    /**
     * Adds one training step on this device's data shard: images (B/t, C, S, S) and targets
     * (B/t, classes), the same on the k devices of a model group. After it, {@link #loss},
     * {@link #gradNorm} and the gradient pieces hold the step's values and each device's
     * parameter pieces are updated (gather them with {@link #gatherParams} to read them).
     */
    public Task trainStep(TaskGraph g, Tensor images, Tensor targets, float lr, Task dep) {
        int d = c.width(), t = mesh.data(), cpp = c.channels() * c.patch() * c.patch(), depth = c.depth();
        int s = c.imageSize();
        if (images.rank() != 4 || images.dim(0) != imgs || images.dim(1) != c.channels() || images.dim(2) != s
                || images.dim(3) != s || targets.rank() != 2 || targets.dim(0) != imgs
                || targets.dim(1) != c.classes())
            throw new IllegalArgumentException("images " + images + " and targets " + targets + " must hold this data shard's "
                    + imgs + " images (" + imgs + ", " + c.channels() + ", " + s + ", " + s + ") and (" + imgs + ", " + c.classes() + ") targets");
        int stepNo = ++step;
        Task[] w = gatherEach(g, dep);
        Task f = g.compute("patch-embed", Cost.matmul(rows, cpp, d, 4),
                () -> be.patchEmbedForward(x0Full, images, patchW, patchB, pos, c.patch()), w[0]);
        for (int l = 0; l < depth; l++)
            f = blocks[l].forward(g, x[l], x[l + 1], g.compute("join", Cost.compute(0, 0), () -> {}, f, w[l + 1]));
        f = g.comm("tokens.all-gather.model", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, (double) rows * d * 4),
                () -> comm.allGather(Axis.MODEL, xLFull, x[depth]).await(), f);
        // kv projection and pooling attention over the tokens, then per image q, proj, MLP and classifier; backward 2x.
        double headFlops = 2.0 * rows * d * 2 * d + 4.0 * rows * d + 2.0 * imgs * (2.0 * d * d + 2.0 * d * c.mlp() + d * c.classes());
        Task b = g.compute("head+loss", Cost.compute(3 * headFlops, 4.0 * rows * d * 6), () -> headForwardBackward(targets), f);
        Task[] reduced = new Task[depth + 1];
        Tensor dout = ownRows(dxLFull);
        for (int l = depth - 1; l >= 0; l--) {
            Tensor dx = (depth - 1 - l) % 2 == 0 ? dA : dB;
            b = blocks[l].backward(g, x[l], dout, dx, b);
            reduced[l] = blocks[l].reduceGradients(g, b);
            dout = dx;
        }
        Tensor d0 = dout;
        b = g.comm("embed-grad.all-gather.model", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, (double) rows * d * 4),
                () -> comm.allGather(Axis.MODEL, dEmbed, d0).await(), b);
        b = g.compute("patch-embed.bwd", Cost.matmul(cpp, rows, d, 4),
                () -> be.patchEmbedBackward(gPatchW, gPatchB, gPos, dEmbed, images, c.patch()), b);
        reduced[depth] = g.comm("rest.grads.reduce-scatter.data",
                Cost.collective(Cost.Kind.REDUCE_SCATTER, Axis.DATA, restGrads.size() * 4.0),
                () -> comm.reduceScatter(Axis.DATA, restGPiece, restGrads).await(), b);
        Task norm = g.comm("grad-norm+loss.all-gather", Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, 8.0 * t),
                () -> globalNormAndLoss(t), reduced);
        Task o = norm;
        for (ShardedBlock blk : blocks) o = blk.optimizerStep(g, o, opt, lr, () -> gradScale, stepNo);
        return g.compute("rest.adamw", Cost.elementwise(restPiece, 4, 3, 4, 12), () -> ShardedAdamW.step(be, restRuns,
                (long) comm.index(Axis.DATA) * restPiece, ownRestPiece(), restGPiece, restM, restV, opt, lr, gradScale, stepNo), o);
    }

    /** Final norm, MAP head, classifier and loss forward and backward, as ViT.forwardBackward does them. */
    private void headForwardBackward(Tensor targets) {
        be.normForward(xf, finalStats, xLFull, normW, null, centered, ModelConfig.EPS);
        head.forward(be, headW, xf);
        be.linearForward(logits, head.feat(), headW.headW(), headW.headB());
        loss = be.lossForwardBackward(logits, targets, dlogits, c.loss());
        // The step's loss is the mean over the global batch: this shard's mean weighs 1/t.
        be.scale(dlogits, 1f / mesh.data());
        be.zero(restGrads);
        Tensor dFeat = head.dFeat();
        be.zero(dFeat);
        be.linearBackward(dFeat, headG.headW(), headG.headB(), dlogits, head.feat(), headW.headW());
        be.zero(dxf);
        head.backward(be, headW, headG, xf, dxf);
        be.zero(dxLFull);
        be.normBackward(dxLFull, gNormW, null, dxf, xLFull, normW, finalStats, centered);
    }

    /**
     * The global gradient norm: each device's sum of squares of its gradient pieces (what the k
     * devices of a model group hold alike, the rest's piece and the blocks' replicated vectors,
     * only on model index 0), summed
     * over the model axis, then over the data axis together with the data shards' losses.
     * Sets the clipping factor the AdamW tasks read.
     */
    private void globalNormAndLoss(int t) {
        double sq = comm.index(Axis.MODEL) == 0 ? be.sumSquares(restGPiece) : 0;
        for (ShardedBlock blk : blocks) sq += blk.gradSumSquares();
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
        gradScale = opt.clipNorm() > 0 && gradNorm > opt.clipNorm() ? (float) (opt.clipNorm() / gradNorm) : 1f;
    }

    private Tensor ownRows(Tensor full) { return full.view((long) comm.index(Axis.MODEL) * r * c.width(), r, c.width()); }

    private Tensor ownRestPiece() { return rest.view((long) comm.index(Axis.DATA) * restPiece, restPiece); }

    @Override public void close() {
        for (ShardedBlock blk : blocks) if (blk != null) blk.close();
        buf.close();
    }
}
