package vit22b.model;

import vit22b.backend.Backend;
import vit22b.backend.Precision;
import vit22b.graph.LocalCommunicator;
import vit22b.graph.TaskGraph;
import vit22b.io.DType;
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
 * (the compute weights); the float32 masters stay what {@link #params} returns, what the
 * optimiser updates and checkpoints save. The copy is cast from the masters at the start of a
 * pass unless it is current: it is stale from the start and after every {@link #params} call
 * (whoever takes the masters may write them: initialisation, a checkpoint load, an upload), and
 * current after a pass's cast. An optimiser that takes the masters with {@link #masters} writes
 * the copy with every update ({@link Backend#queueAdamw}'s copy), so the copy stays current
 * through its steps and no pass casts; a skipped (non-finite) step writes neither. A pass
 * captured into a CUDA graph holds the cast or not as it was at capture: replay it only while
 * the masters change through that optimiser.
 *
 * <p>{@link #inference} builds an inference-only model (frozen-feature evaluation, prediction,
 * the forward benchmark): only the compute weights, in the backend's compute type, no masters,
 * gradients or moments, held per part ({@link PartLayout}: one buffer per block and one for the
 * rest), so a model past 2^31 parameters (ViT-22B) fits; the same block and head code runs it.
 */
public final class ViT implements AutoCloseable {
    private final Backend backend;
    private final ModelConfig config;
    private final ParamLayout layout;
    /** The float32 masters; null in an inference-only model. */
    private final Tensor params;
    /** The parameters the ops read: params itself in fp32, its bf16 copy in bf16; null in an inference-only model. */
    private final Tensor weights;
    /** An inference-only model's compute weights, one buffer per part of {@link #parts}; null otherwise. */
    private final Tensor[] partWeights;
    private final PartLayout parts;
    private final BlockParams[] blockW;
    private final Head.Params headW;
    private final Tensor patchW, patchB, pos;
    private final LocalCommunicator comm;
    private Tensor grads;
    private BlockParams[] blockG;
    private Head.Params headG;
    private Activations acts;
    /** Bumped whenever work recorded over this model's buffers would be void (see {@link #recordingEpoch}). */
    private int recordingEpoch;
    /** bf16: whether the compute copy holds the masters rounded (no cast needed before a pass). */
    private boolean copyCurrent;
    private long copyCasts;

    public ViT(Backend backend, ModelConfig config) {
        this.backend = backend;
        this.config = config;
        this.layout = new ParamLayout(config);
        if (layout.total() > Integer.MAX_VALUE)
            throw new IllegalArgumentException("model '" + config.name() + "' has " + layout.total()
                    + " parameters, more than one flat buffer of 2^31-1 floats holds; use fewer layers or shard it over a mesh "
                    + "(inference: eval, probe, fewshot and predict hold such a model per block)");
        this.params = backend.allocate((int) layout.total());
        Precision p = backend.precision();
        this.weights = p == Precision.FP32 ? params : backend.allocate(p.compute(), (int) layout.total());
        this.partWeights = null;
        this.parts = null;
        blockW = new BlockParams[config.depth()];
        for (int i = 0; i < config.depth(); i++) blockW[i] = BlockParams.of(layout, weights, i);
        headW = Head.Params.of(layout, weights);
        patchW = layout.view(weights, "patch_embed.proj.weight");
        patchB = layout.view(weights, "patch_embed.proj.bias");
        pos = posEmbed(layout, weights);
        comm = new LocalCommunicator(backend);
    }

    private ViT(Backend backend, PartLayout parts) {
        this.backend = backend;
        this.config = parts.config();
        this.layout = parts.full();
        this.parts = parts;
        this.params = null;
        this.weights = null;
        this.partWeights = allocateParts(backend, parts);
        ParamLayout rest = parts.rest();
        blockW = new BlockParams[config.depth()];
        for (int i = 0; i < config.depth(); i++) blockW[i] = BlockParams.ofShard(parts.block(), partWeights[1 + i]);
        headW = Head.Params.of(rest, partWeights[0]);
        patchW = rest.view(partWeights[0], "patch_embed.proj.weight");
        patchB = rest.view(partWeights[0], "patch_embed.proj.bias");
        pos = posEmbed(rest, partWeights[0]);
        comm = new LocalCommunicator(backend);
    }

    /**
     * An inference-only model: the compute weights alone (the backend's compute type: float32, or
     * bf16 in bf16 precision), zero until written through {@link #weight}; forward, features and
     * loss only. Refuses, in one line, a model none of whose parts fits a buffer
     * ({@link PartLayout#requireFits}) or whose weights the device cannot hold (needed and free).
     */
    public static ViT inference(Backend backend, ModelConfig config) {
        return new ViT(backend, PartLayout.of(config).requireFits());
    }

    /** The parts' buffers, all or none: a failure frees what was taken and says what was needed. */
    private static Tensor[] allocateParts(Backend be, PartLayout parts) {
        DType type = be.precision().compute();
        Tensor one = be.allocate(type, 1);   // bytes per element as this backend stores the type (bf16 rounding: 4)
        long per = one.bytes();
        boolean host = one.storage() instanceof vit22b.tensor.HostStorage;
        be.free(one);
        // checked before allocating: on the host, zero-filling pages past what is available gets the
        // process killed rather than refused; on a GPU, half a model allocated is time and noise
        String refusal = weightsRefusal(be.name(), host, parts.config().name(), type, parts.total(), per, be.freeBytes());
        if (refusal != null) throw new IllegalStateException(refusal);
        String need = weightsNeed(be.name(), parts.config().name(), type, parts.total(), per);
        String fix = fix(type, host);
        Tensor[] out = new Tensor[parts.parts()];
        int p = 0;
        try {
            for (; p < out.length; p++) out[p] = be.allocate(type, (int) parts.elements(p));
            return out;
        } catch (RuntimeException | OutOfMemoryError e) {
            long taken = 0;
            for (Tensor t : out)
                if (t != null) {
                    taken += t.bytes();
                    be.free(t);
                }
            throw new IllegalStateException(need + String.format(java.util.Locale.ROOT, "; %.2f GB were taken when part %d "
                    + "of %d failed (%s)", taken / 1e9, p + 1, out.length, String.valueOf(e.getMessage()).replace('\n', ' '))
                    + "; " + fix, e);
        }
    }

    /**
     * The one-line refusal of weights of {@code params} x {@code bytesPer} bytes on a backend with
     * {@code free} bytes free (Long.MAX_VALUE: unknown), naming the fix; null when they fit.
     * Activations come on top: a forward that then runs out says so itself, with the batch.
     */
    static String weightsRefusal(String backend, boolean host, String model, DType type, long params, long bytesPer, long free) {
        if ((double) params * bytesPer <= free) return null;
        return weightsNeed(backend, model, type, params, bytesPer) + String.format(java.util.Locale.ROOT, "; %.2f GB of %s "
                + "memory are free; %s", free / 1e9, host ? "host" : backend, fix(type, host));
    }

    private static String weightsNeed(String backend, String model, DType type, long params, long bytesPer) {
        return String.format(java.util.Locale.ROOT, "not enough %s memory for model '%s': its %s weights need %.2f GB "
                + "(%d parameters x %d bytes, activations on top)", backend, model, type, params * (double) bytesPer / 1e9,
                params, bytesPer);
    }

    /** What to do when the weights do not fit: bf16 where they are float32, then more memory or a smaller model. */
    private static String fix(DType type, boolean host) {
        return (type == DType.F32 ? "use --precision bf16 (half the bytes), " : "use ")
                + (host ? "a machine with more free memory" : "a GPU with more free memory (or free this one)") + ", or a smaller model";
    }

    /** Whether this model was built by {@link #inference} (no masters, no gradients). */
    public boolean inferenceOnly() { return parts != null; }

    /**
     * The named parameter (a full-layout name, e.g. "blocks.3.in_proj.weight") as the ops read it,
     * in its PyTorch shape: where a loader writes an inference-only model's weights. A training
     * model's ops read what {@link #params} holds: write the masters there instead.
     */
    public Tensor weight(String name) {
        if (parts == null)
            throw new IllegalStateException("a training model's weights are its float32 masters: write them through params()");
        PartLayout.Place at = parts.place(name);
        ParamLayout.Entry e = at.entry();
        return partWeights[at.part()].view(e.offset(), e.shape());
    }

    private IllegalStateException inferenceOnly(String what) {
        return new IllegalStateException("model '" + config.name() + "' is inference-only (compute weights, no float32 "
                + "masters or gradients): " + what + " needs a training model (new ViT(backend, config))");
    }

    public Backend backend() { return backend; }

    /**
     * Changes whenever device work recorded over this model ({@link Backend#record}) would be void:
     * the activation buffers were reallocated (another batch size, e.g. an evaluation between
     * updates), or in bf16 the masters were handed out by {@link #params} (a recorded pass holds
     * no cast while the copy is current, so it would read a stale copy after they are written), so
     * a recording made at another value must not be replayed.
     */
    public int recordingEpoch() { return recordingEpoch; }

    public ModelConfig config() { return config; }
    public ParamLayout layout() { return layout; }

    /**
     * All parameters, flat ({@link ParamLayout#view} names them): the float32 masters. In bf16
     * the caller may write them, so the next pass recasts the compute copy from them.
     */
    public Tensor params() {
        if (params == null) throw inferenceOnly("params()");
        if (weights != params) {
            copyCurrent = false;
            recordingEpoch++;
        }
        return params;
    }

    /**
     * The masters and the compute copy the ops read (null in fp32, where the ops read the
     * masters), for an optimiser that writes both in each update
     * ({@link Backend#queueAdamw}'s copy): the copy stays current, so passes skip the cast.
     * Whoever takes them must write the copy with every write of the masters.
     */
    public record Masters(Tensor params, Tensor copy) {}

    /** See {@link Masters}. */
    public Masters masters() {
        if (params == null) throw inferenceOnly("masters()");
        return new Masters(params, weights == params ? null : weights);
    }

    /** How many passes cast the compute copy from the masters so far (0 in fp32): shows a fused update skipping it. */
    public long copyCasts() { return copyCasts; }

    /** Gradients of the last {@link #forwardBackward}, in the parameters' layout (allocated on first call). */
    public Tensor grads() {
        if (params == null) throw inferenceOnly("a training pass");
        if (grads == null) {
            grads = backend.allocate((int) layout.total());
            blockG = new BlockParams[config.depth()];
            for (int i = 0; i < config.depth(); i++) blockG[i] = BlockParams.of(layout, grads, i);
            headG = Head.Params.of(layout, grads);
        }
        return grads;
    }

    /** Logits (B, classes) of images (B, C, S, S). */
    public Tensor forward(Tensor images) {
        return run(images, false).head.classify(backend, headW);
    }

    /** The MAP head's pooled output (B, D) before the classifier (frozen-feature evaluation). */
    public Tensor features(Tensor images) {
        return run(images, false).head.features();
    }

    /** Mean loss (config's kind) of images against targets (B, classes), without backward. */
    public double loss(Tensor images, Tensor targets) {
        Head h = run(images, false).head;
        h.classify(backend, headW);
        h.queueLoss(backend, targets);
        return backend.queuedLoss();
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
     * after a first pass at this batch size has sized every buffer, it neither allocates device
     * memory nor waits, so a CUDA graph can hold it. The blocks run as the block program's 1 x 1
     * case on an eager task graph.
     */
    public void queueForwardBackward(Tensor images, Tensor targets) {
        Tensor g = grads();
        TaskGraph eager = TaskGraph.eager();
        Activations a = run(eager, images, true);
        a.head.classify(backend, headW);
        a.head.queueLoss(backend, targets);
        backend.zero(g);
        int depth = config.depth();
        a.head.backward(backend, headW, headG, a.x(depth), a.dx, 1f);
        for (int i = depth - 1; i >= 0; i--)
            Block.backward(eager, "", a.shard, bind(a, i), a.x(i), a.dx, a.dx);
        backend.patchEmbedBackward(layout.view(g, "patch_embed.proj.weight"), layout.view(g, "patch_embed.proj.bias"),
                posEmbed(layout, g), a.dx, images, config.patch());
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
    Activations run(Tensor images, boolean training) { return run(TaskGraph.eager(), images, training); }

    private Activations run(TaskGraph eager, Tensor images, boolean training) {
        int s = config.imageSize();
        if (images.rank() != 4 || images.dim(1) != config.channels() || images.dim(2) != s || images.dim(3) != s)
            throw new IllegalArgumentException("images " + images + " do not fit model '" + config.name()
                    + "': expected (batch, " + config.channels() + ", " + s + ", " + s + ")");
        int batch = images.dim(0);
        if (acts == null || acts.batch != batch || (training && !acts.training)) {
            if (acts != null) acts.close();
            acts = null;   // never left pointing at closed buffers if allocation fails
            recordingEpoch++;
            acts = activations(batch, training);
        }
        Activations a = acts;
        if (weights != params && !copyCurrent) {   // an inference-only model has neither: nothing to cast
            backend.cast(weights, params);
            copyCurrent = true;
            copyCasts++;
        }
        backend.patchEmbedForward(a.x(0), images, patchW, patchB, pos, config.patch());
        for (int i = 0; i < config.depth(); i++)
            Block.forward(eager, "", a.shard, bind(a, i), a.x(i), a.x(i + 1));
        a.head.features(backend, headW, a.x(config.depth()));
        return a;
    }

    /**
     * The buffers of a pass at {@code batch}; a failure to allocate them (out of memory: the
     * shapes are valid) is one line with the batch, what is free, and the fix.
     */
    private Activations activations(int batch, boolean training) {
        try {
            return new Activations(backend, config, batch, training);
        } catch (RuntimeException e) {
            long free = backend.freeBytes();
            throw new IllegalStateException(String.format(java.util.Locale.ROOT, "not enough %s memory for the %s activations "
                    + "of model '%s' at batch %d%s (%s); use a smaller --batch%s, or a device with more free memory",
                    backend.name(), training ? "training" : "forward", config.name(), batch,
                    free == Long.MAX_VALUE ? "" : String.format(java.util.Locale.ROOT, ", %.2f GB free after the weights", free / 1e9),
                    String.valueOf(e.getMessage()).replace('\n', ' '),
                    backend.precision() == vit22b.backend.Precision.FP32 ? ", --precision bf16" : ""), e);
        }
    }

    /** Block i's tensors for the block program (its gradients when a training pass has allocated them). */
    private Block.Bind bind(Activations a, int i) {
        return new Block.Bind(backend, comm, blockW[i], a.training && blockG != null ? blockG[i] : null, null,
                a.layer(i), a.scratch);
    }

    /** The position embedding (N, D) in {@code flat}, laid out by {@code l}. */
    private Tensor posEmbed(ParamLayout l, Tensor flat) {
        return l.view(flat, "pos_embed").reshape(config.tokens(), config.width());
    }

    @Override public void close() {
        if (acts != null) acts.close();
        acts = null;
        if (params != null) backend.free(params);
        if (weights != params) backend.free(weights);
        if (partWeights != null) for (Tensor t : partWeights) backend.free(t);
        if (grads != null) backend.free(grads);
        grads = null;
    }
}
