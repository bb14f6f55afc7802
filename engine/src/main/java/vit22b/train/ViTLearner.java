package vit22b.train;

import java.util.List;

import vit22b.backend.Backend;
import vit22b.eval.OneHot;
import vit22b.model.AttentionStats;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/** The {@link Learner} of one device: a {@link ViT} and its {@link AdamW}, with gradient accumulation. */
public final class ViTLearner implements Learner {
    private final ViT model;
    private final AdamW opt;
    private Tensor images, targets, accumulated;
    private double gradNorm = Double.NaN;

    public ViTLearner(ViT model, AdamW opt) {
        this.model = model;
        this.opt = opt;
    }

    @Override public ModelConfig config() { return model.config(); }
    @Override public int step() { return opt.step(); }
    @Override public double gradNorm() { return gradNorm; }
    @Override public AttentionStats attentionStats() { return model.attentionStats(); }
    @Override public ViT model() { return model; }

    @Override public double update(List<BatchSource.Batch> batches, float lr) {
        ModelConfig c = model.config();
        Backend be = model.backend();
        double loss = 0;
        for (int micro = 0; micro < batches.size(); micro++) {
            BatchSource.Batch b = batches.get(micro);
            int m = b.labels().length;
            if (images == null || images.dim(0) != m) {   // a short batch after skipped images
                if (images != null) { be.free(images); be.free(targets); }
                images = be.allocate(m, c.channels(), c.imageSize(), c.imageSize());
                targets = be.allocate(m, c.classes());
            }
            be.upload(images, b.images());
            be.upload(targets, OneHot.of(b.labels(), c.classes()));
            loss += model.forwardBackward(images, targets) / batches.size();
            // Each batch's gradient is a mean over its images; the update uses the mean of those means.
            if (batches.size() > 1) {
                if (accumulated == null) accumulated = be.allocate(model.grads().shape());
                if (micro == 0) be.copy(accumulated, model.grads());
                else be.add(accumulated, model.grads());
            }
        }
        if (batches.size() > 1) {
            be.copy(model.grads(), accumulated);
            be.scale(model.grads(), 1f / batches.size());
        }
        if (!Double.isFinite(loss)) throw new TrainingDivergedException("loss is " + loss);
        gradNorm = opt.step(lr);
        return loss;
    }

    @Override public Checkpoints.Snapshot snapshot() { return Checkpoints.Snapshot.of(model, opt); }

    /** Frees the batch buffers (the model and optimiser belong to the caller). */
    @Override public void close() {
        Backend be = model.backend();
        if (images != null) { be.free(images); be.free(targets); }
        if (accumulated != null) be.free(accumulated);
        images = targets = accumulated = null;
    }
}
