package vit22b.train;

import java.util.List;

import vit22b.backend.Backend;
import vit22b.eval.OneHot;
import vit22b.model.AttentionStats;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/**
 * The {@link Learner} of one device: a {@link ViT} and its {@link AdamW}, with gradient accumulation.
 * An update from one batch runs eagerly the first time; its device work (forward, loss, backward,
 * AdamW with clipping) is then recorded ({@link Backend#record}: a CUDA graph) and later updates of
 * the same batch size replay it, one launch instead of several hundred, with only the batch upload,
 * the learning rate and the loss and gradient norm reads on the host. The CPU records nothing.
 */
public final class ViTLearner implements Learner {
    private final ViT model;
    private final AdamW opt;
    private Tensor images, targets, accumulated;
    private double gradNorm = Double.NaN;
    /** The one-batch update recorded over {@link #images} and {@link #targets}; null until recorded or where nothing records. */
    private Backend.Recording recorded;
    private boolean recordTried;
    /** The model's {@link ViT#recordingEpoch} when {@link #recorded} was made. */
    private int recordedEpoch;
    private int replays;

    public ViTLearner(ViT model, AdamW opt) {
        this.model = model;
        this.opt = opt;
    }

    @Override public ModelConfig config() { return model.config(); }
    @Override public int step() { return opt.step(); }
    @Override public double gradNorm() { return gradNorm; }
    @Override public AttentionStats attentionStats() { return model.attentionStats(); }
    @Override public ViT model() { return model; }

    /** How many updates ran as a replay of the recorded one. */
    public int replays() { return replays; }

    @Override public double update(List<BatchSource.Batch> batches, float lr) {
        Backend be = model.backend();
        double loss = 0;
        for (int micro = 0; micro < batches.size(); micro++) {
            upload(batches.get(micro));
            if (recorded != null && recordedEpoch != model.recordingEpoch()) dropRecording();   // buffers reallocated since
            if (micro == 0 && batches.size() == 1 && recorded != null) return replay(lr);
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
        if (batches.size() == 1 && !recordTried) {   // every buffer of this batch size exists now
            recordTried = true;
            recordedEpoch = model.recordingEpoch();
            recorded = be.record(() -> {
                model.queueForwardBackward(images, targets);
                opt.queueUpdate();
            });
        }
        return loss;
    }

    /**
     * One update by the recorded work. The device skips AdamW when the gradient norm is not finite;
     * a non-finite loss with finite gradients (not seen in practice) would have updated, and still
     * fails the run, which then saves nothing.
     */
    private double replay(float lr) {
        replays++;
        opt.prepare(lr);
        recorded.replay();
        double loss = model.backend().queuedLoss();
        if (!Double.isFinite(loss)) throw new TrainingDivergedException("loss is " + loss);
        gradNorm = opt.finish();
        return loss;
    }

    /** Puts a batch into the device buffers, reallocating them (and dropping the recording over them) when its size changes. */
    private void upload(BatchSource.Batch b) {
        ModelConfig c = model.config();
        Backend be = model.backend();
        int m = b.labels().length;
        if (images == null || images.dim(0) != m) {   // a short batch after skipped images
            dropRecording();
            if (images != null) { be.free(images); be.free(targets); }
            images = be.allocate(m, c.channels(), c.imageSize(), c.imageSize());
            targets = be.allocate(m, c.classes());
        }
        be.upload(images, b.images());
        be.upload(targets, OneHot.of(b.labels(), c.classes()));
    }

    private void dropRecording() {
        if (recorded != null) recorded.close();
        recorded = null;
        recordTried = false;
    }

    @Override public Checkpoints.Snapshot snapshot() { return Checkpoints.Snapshot.of(model, opt); }

    /** Frees the batch buffers (the model and optimiser belong to the caller). */
    @Override public void close() {
        dropRecording();
        Backend be = model.backend();
        if (images != null) { be.free(images); be.free(targets); }
        if (accumulated != null) be.free(accumulated);
        images = targets = accumulated = null;
    }
}
