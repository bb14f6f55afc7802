package vit22b.train;

import java.util.ArrayList;
import java.util.List;

import vit22b.backend.Backend;
import vit22b.backend.Precision;
import vit22b.model.ParamLayout;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/**
 * AdamW (decoupled weight decay, PyTorch's semantics) over a flat parameter buffer: moments m
 * and v in the same layout, weight decay per {@link ParamLayout.Decay} group (NONE is never
 * decayed), and global-norm gradient clipping. The step counter and moments are the state a
 * checkpoint saves.
 */
public final class AdamW implements AutoCloseable {

    /**
     * Hyper-parameters. {@code clipNorm} <= 0 disables clipping; {@code bodyDecay} and
     * {@code headDecay} are the decoupled decay factors of the BODY and HEAD groups.
     */
    public record Config(float beta1, float beta2, float eps, float bodyDecay, float headDecay, float clipNorm) {
        public Config {
            if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
                throw new IllegalArgumentException("Adam betas must lie in [0, 1), got " + beta1 + ", " + beta2);
            if (!(eps > 0)) throw new IllegalArgumentException("Adam eps must be positive, got " + eps);
            if (bodyDecay < 0 || headDecay < 0)
                throw new IllegalArgumentException("weight decay must be >= 0, got body " + bodyDecay + ", head " + headDecay);
        }

        /** The decoupled decay factor of a parameter group. */
        public float decay(ParamLayout.Decay group) {
            return switch (group) {
                case NONE -> 0f;
                case BODY -> bodyDecay;
                case HEAD -> headDecay;
            };
        }

        /**
         * The global-norm clipping factor of a step whose gradient norm is {@code gradNorm}:
         * min(1, clipNorm / norm), as the backends' {@link Backend#queueAdamw} applies it.
         */
        public float clipFactor(double gradNorm) { return Backend.clipFactor(gradNorm, clipNorm); }
    }

    private final Backend backend;
    private final Config config;
    private final Tensor params, grads, m, v;
    /** The model's compute copy (null: none), written rounded in each update's pass. */
    private final Tensor copy;
    private final List<Backend.AdamwRange> ranges = new ArrayList<>();
    private int step;

    /**
     * The optimiser of {@code model}: updates its masters and, in bf16, writes its compute copy
     * in the same pass ({@link ViT#masters}), so the model's passes need no cast.
     */
    public AdamW(Backend backend, ViT model, Config config) {
        this(backend, model.layout(), model.masters().params(), model.masters().copy(), model.grads(), config);
    }

    /** Flat float32 buffers with no compute copy (fp32 backends only). */
    public AdamW(Backend backend, ParamLayout layout, Tensor params, Tensor grads, Config config) {
        this(backend, layout, params, null, grads, config);
    }

    /**
     * Flat buffers in {@code layout}'s order; {@code copy} (null: none) receives the updated
     * parameters rounded to bf16 with every update. A bf16 backend's updates must write the
     * model's compute copy (else the model would read stale weights): it needs one.
     */
    public AdamW(Backend backend, ParamLayout layout, Tensor params, Tensor copy, Tensor grads, Config config) {
        if (params.size() != layout.total() || grads.size() != layout.total() || (copy != null && copy.size() != layout.total()))
            throw new IllegalArgumentException("params " + params + ", grads " + grads + (copy == null ? "" : " and copy " + copy)
                    + " must each hold the layout's " + layout.total() + " elements");
        if (copy == null && backend.precision() == Precision.BF16)
            throw new IllegalArgumentException("AdamW on a bf16 backend updates the model's masters and its bf16 compute "
                    + "copy together: construct it with new AdamW(backend, model, config)");
        this.backend = backend;
        this.config = config;
        this.params = params;
        this.copy = copy;
        this.grads = grads;
        this.m = backend.allocate(params.shape());
        this.v = backend.allocate(params.shape());
        ranges.addAll(ranges(layout, config));
    }

    /** The layout's maximal runs of consecutive parameters sharing one decay group, with its decay: one update each. */
    public static List<Backend.AdamwRange> ranges(ParamLayout layout, Config config) {
        List<Backend.AdamwRange> ranges = new ArrayList<>();
        ParamLayout.Decay lastDecay = null;
        for (ParamLayout.Entry e : layout.entries()) {
            Backend.AdamwRange last = ranges.isEmpty() ? null : ranges.getLast();
            if (last != null && lastDecay == e.decay() && last.offset() + last.size() == e.offset())
                ranges.set(ranges.size() - 1, new Backend.AdamwRange(last.offset(), last.size() + e.size(), last.weightDecay()));
            else
                ranges.add(new Backend.AdamwRange(e.offset(), e.size(), config.decay(e.decay())));
            lastDecay = e.decay();
        }
        return ranges;
    }

    /**
     * One update of a piece of a flat vector sharded over a mesh's data axis: the device holds
     * floats [start, start + p.size()) of the flat whose decay runs are {@code ranges}; p, g, m,
     * v are the piece's tensors. Floats past the flat's end (padding) are left alone.
     * {@code gradScale} is the step's {@link Config#clipFactor}.
     */
    public static void updatePiece(Backend be, List<Backend.AdamwRange> ranges, long start, Tensor p, Tensor g, Tensor m,
                                   Tensor v, Config cfg, float lr, float gradScale, int step) {
        long end = start + p.size();
        for (Backend.AdamwRange r : ranges) {
            long from = Math.max(start, r.offset()), to = Math.min(end, r.offset() + r.size());
            if (from >= to) continue;
            long o = from - start;
            int n = Math.toIntExact(to - from);
            be.adamw(p.view(o, n), g.view(o, n), m.view(o, n), v.view(o, n), null, lr, cfg.beta1(), cfg.beta2(), cfg.eps(),
                    r.weightDecay(), gradScale, step);
        }
    }

    /**
     * One update with learning rate {@code lr} from the gradients now in the buffer. Returns
     * the global gradient norm before clipping.
     */
    public double step(float lr) {
        prepare(lr);
        queueUpdate();
        return finish();
    }

    /** The host's part of a step (learning rate, step count): before {@link #queueUpdate}, outside any graph. */
    public void prepare(float lr) { backend.setAdamwStep(lr, step); }

    /** The device's part of a step: needs no host value, so a CUDA graph can hold it. */
    public void queueUpdate() {
        backend.queueAdamw(params, grads, m, v, copy, ranges, config.beta1(), config.beta2(), config.eps(), config.clipNorm());
    }

    /**
     * Ends a step: the global gradient norm before clipping. A non-finite norm left the parameters
     * as they were and fails the run.
     */
    public double finish() {
        double norm = backend.queuedGradNorm();
        if (!Double.isFinite(norm))
            throw new TrainingDivergedException("gradient norm is " + norm + " at step " + (step + 1)
                    + "; lower the learning rate or check the inputs");
        step++;
        return norm;
    }

    public Config config() { return config; }

    /** First moments, in the parameters' layout. */
    public Tensor m() { return m; }

    /** Second moments, in the parameters' layout. */
    public Tensor v() { return v; }

    /** Updates done so far (bias correction uses it). */
    public int step() { return step; }

    /** Restores the step counter from a checkpoint (upload m and v into {@link #m()}, {@link #v()}). */
    public void setStep(int step) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        this.step = step;
    }

    @Override public void close() {
        backend.free(m);
        backend.free(v);
    }
}
