package vit22b.train;

import java.util.List;

import vit22b.model.AttentionStats;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;

/**
 * What {@link Trainer} drives: a model and its optimiser, whole on one device ({@link ViTLearner})
 * or sharded over a mesh of devices. Host-side batches in, one clipped AdamW update out.
 */
public interface Learner extends AutoCloseable {

    ModelConfig config();

    /** Updates done so far. */
    int step();

    /**
     * One update at learning rate {@code lr} from the mean of the batches' gradients (each a mean
     * over its images); returns the mean of their losses. A non-finite loss or gradient norm
     * throws {@link TrainingDivergedException} and leaves the parameters as they were.
     */
    double update(List<BatchSource.Batch> batches, float lr);

    /** Global gradient norm, before clipping, of the last update. */
    double gradNorm();

    /** Attention statistics of the last update's forward pass, or null where they are not kept. */
    AttentionStats attentionStats();

    /** The whole model holding the current parameters (for evaluation and the final model file). */
    ViT model();

    /** The state a checkpoint stores, on the host, in {@link vit22b.model.ParamLayout} order. */
    Checkpoints.Snapshot snapshot();

    /** Frees what the learner allocated (not a model or optimiser it was given). */
    @Override void close();
}
