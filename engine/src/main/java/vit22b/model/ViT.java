package vit22b.model;

import java.util.Arrays;

import vit22b.backend.Backend;
import vit22b.backend.Precision;
import vit22b.tensor.Tensor;

/**
 * A ViT-22B-recipe model on one backend (DESIGN.md, "The model: exact semantics"). Parameters
 * live in one flat tensor laid out by {@link ParamLayout}, gradients (allocated on first use)
 * in another of the same layout. Activations are sized for the last batch size seen and
 * reused; inference passes keep one layer's buffers only. Tensors returned by
 * {@link #forward} and {@link #features} are views into them, valid until the next call.
 * Parameters start at zero: fill them with {@link Init} or a checkpoint.
 *
 * <p>In bf16 precision ({@link Backend#precision}) the ops read a bf16 copy of the parameters
 * (the compute weights), cast from the float32 masters at the start of every pass, so that
 * whatever wrote the masters (an optimiser step, a checkpoint, initialisation) is seen; the
 * masters stay what {@link #params} returns, what the optimiser updates and checkpoints save.
 */
public final class ViT implements AutoCloseable {
    private final Backend backend;
    private final ModelConfig config;
    private final ParamLayout layout;
    private final Tensor params;
    /** The parameters the ops read: params itself in fp32, its bf16 copy in bf16. */
    private final Tensor weights;
    private final BlockParams[] blockW;
    private final HeadParams headW;
    private Tensor grads;
    private BlockParams[] blockG;
    private HeadParams headG;
    private Activations acts;

    public ViT(Backend backend, ModelConfig config) {
        this.backend = backend;
        this.config = config;
        this.layout = new ParamLayout(config);
        if (layout.total() > Integer.MAX_VALUE)
            throw new IllegalArgumentException("model '" + config.name() + "' has " + layout.total()
                    + " parameters, more than one flat buffer of 2^31-1 floats holds; use fewer layers or shard it over a mesh");
        this.params = backend.allocate((int) layout.total());
        Precision p = backend.precision();
        this.weights = p == Precision.FP32 ? params : backend.allocate(p.compute(), (int) layout.total());
        blockW = new BlockParams[config.depth()];
        for (int i = 0; i < config.depth(); i++) blockW[i] = BlockParams.of(layout, weights, i);
        headW = HeadParams.of(layout, weights);
    }

    public Backend backend() { return backend; }
    public ModelConfig config() { return config; }
    public ParamLayout layout() { return layout; }

    /** All parameters, flat ({@link ParamLayout#view} names them). */
    public Tensor params() { return params; }

    /** Gradients of the last {@link #forwardBackward}, in the parameters' layout (allocated on first call). */
    public Tensor grads() {
        if (grads == null) {
            grads = backend.allocate((int) layout.total());
            blockG = new BlockParams[config.depth()];
            for (int i = 0; i < config.depth(); i++) blockG[i] = BlockParams.of(layout, grads, i);
            headG = HeadParams.of(layout, grads);
        }
        return grads;
    }

    /** Logits (B, classes) of images (B, C, S, S). */
    public Tensor forward(Tensor images) {
        return classify(run(images, false));
    }

    /** The MAP head's pooled output (B, D) before the classifier (frozen-feature evaluation). */
    public Tensor features(Tensor images) {
        return run(images, false).head.feat();
    }

    /** Mean loss (config's kind) of images against targets (B, classes), without backward. */
    public double loss(Tensor images, Tensor targets) {
        return lossOf(classify(run(images, false)), targets);
    }

    /**
     * One training pass: zeroes the gradients, runs forward, the loss (config's kind) against
     * targets (B, classes) and backward. Returns the mean loss over the batch.
     */
    public double forwardBackward(Tensor images, Tensor targets) {
        queueForwardBackward(images, targets);
        return backend.queuedLoss();
    }

    /**
     * {@link #forwardBackward} without waiting for the loss ({@link Backend#queuedLoss} reads it):
     * after a first pass at this batch size has sized every buffer, it neither allocates nor
     * waits, so a CUDA graph can hold it.
     */
    public void queueForwardBackward(Tensor images, Tensor targets) {
        Tensor g = grads();
        Activations a = run(images, true);
        queueLoss(classify(a), targets);
        backend.zero(g);
        Tensor dFeat = a.head.dFeat();
        backend.zero(dFeat);
        backend.linearBackward(dFeat, headG.headW(), headG.headB(), a.dlogits, a.head.feat(), headW.headW());
        backend.zero(a.dxf);
        a.head.backward(backend, headW, headG, a.xf, a.dxf);
        int depth = config.depth();
        backend.zero(a.dx);
        backend.normBackward(a.dx, layout.view(g, "norm.weight"), finalNormBias(g), a.dxf, a.x(depth),
                layout.view(weights, "norm.weight"), a.finalStats, config.norm() == NormKind.LAYER);
        for (int i = depth - 1; i >= 0; i--)
            Block.backward(backend, config, a.batch, blockW[i], blockG[i], a.x(i), a.layer(i), a);
        backend.patchEmbedBackward(layout.view(g, "patch_embed.proj.weight"), layout.view(g, "patch_embed.proj.bias"),
                posEmbed(g), a.dx, images, config.patch());
    }

    /**
     * Figure 1's statistics of a forward pass over images, per block: the largest |attention
     * logit| (after QK-norm and the 1/sqrt(hd) scale, i.e. what enters the softmax) and the
     * mean entropy of the attention rows. Computed on the host from q and k.
     */
    public AttentionStats attentionStats(Tensor images) {
        run(images, true);
        return attentionStats();
    }

    /**
     * {@link #attentionStats(Tensor)} of the last pass, free after {@link #forwardBackward}
     * (whose activations keep every layer's q and k).
     */
    public AttentionStats attentionStats() {
        if (acts == null || !acts.training)
            throw new IllegalStateException("attentionStats() reads every layer's q and k of the last pass, "
                    + "which only training passes keep; call it after forwardBackward, or use attentionStats(images)");
        int depth = config.depth();
        double[] maxLogit = new double[depth], entropy = new double[depth];
        for (int i = 0; i < depth; i++) {
            AttentionStats.Layer s = AttentionStats.of(backend.download(acts.layer(i).q()),
                    backend.download(acts.layer(i).k()), acts.batch * config.heads(), config.tokens(), config.headDim());
            maxLogit[i] = s.maxAbsLogit();
            entropy[i] = s.meanEntropy();
        }
        return new AttentionStats(maxLogit, entropy);
    }

    /** Forward to the MAP head's output; {@code training} keeps every layer's activations. */
    Activations run(Tensor images, boolean training) {
        int s = config.imageSize();
        if (images.rank() != 4 || images.dim(1) != config.channels() || images.dim(2) != s || images.dim(3) != s)
            throw new IllegalArgumentException("images " + images + " do not fit model '" + config.name()
                    + "': expected (batch, " + config.channels() + ", " + s + ", " + s + ")");
        int batch = images.dim(0);
        if (acts == null || acts.batch != batch || (training && !acts.training)) {
            if (acts != null) acts.close();
            acts = null;   // never left pointing at closed buffers if allocation fails
            acts = new Activations(backend, config, batch, training);
        }
        Activations a = acts;
        if (weights != params) backend.cast(weights, params);
        backend.patchEmbedForward(a.x(0), images, layout.view(weights, "patch_embed.proj.weight"),
                layout.view(weights, "patch_embed.proj.bias"), posEmbed(weights), config.patch());
        for (int i = 0; i < config.depth(); i++)
            Block.forward(backend, config, batch, blockW[i], a.x(i), a.x(i + 1), a.layer(i));
        backend.normForward(a.xf, a.finalStats, a.x(config.depth()), layout.view(weights, "norm.weight"), finalNormBias(weights),
                config.norm() == NormKind.LAYER, ModelConfig.EPS);
        a.head.forward(backend, headW, a.xf);
        return a;
    }

    private Tensor classify(Activations a) {
        if (config.classes() == 0)
            throw new IllegalArgumentException("model '" + config.name() + "' has no classifier (0 classes); "
                    + "use features() or give the model a number of classes");
        backend.linearForward(a.logits, a.head.feat(), headW.headW(), headW.headB());
        return a.logits;
    }

    /** The loss of the logits; leaves d(loss)/d(logits) in the activations. */
    private double lossOf(Tensor logits, Tensor targets) {
        queueLoss(logits, targets);
        return backend.queuedLoss();
    }

    /** Queues the loss of the logits (read it with Backend.queuedLoss); d(loss)/d(logits) into the activations. */
    private void queueLoss(Tensor logits, Tensor targets) {
        if (!Arrays.equals(targets.shape(), logits.shape()))
            throw new IllegalArgumentException("targets " + targets + " do not match logits " + logits
                    + "; give one row of " + config.classes() + " class weights per image");
        backend.queueLoss(logits, targets, acts.dlogits, config.loss());
    }

    /** The final norm's bias (biases variant), or null. */
    private Tensor finalNormBias(Tensor flat) {
        return layout.has("norm.bias") ? layout.view(flat, "norm.bias") : null;
    }

    private Tensor posEmbed(Tensor flat) {
        return layout.view(flat, "pos_embed").reshape(config.tokens(), config.width());
    }

    @Override public void close() {
        if (acts != null) acts.close();
        acts = null;
        backend.free(params);
        if (weights != params) backend.free(weights);
        if (grads != null) backend.free(grads);
        grads = null;
    }
}
