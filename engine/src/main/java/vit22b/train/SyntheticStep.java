package vit22b.train;

import java.util.SplittableRandom;

import vit22b.backend.Backend;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/**
 * Whole training steps on one fixed random batch, for measuring speed: a seeded model
 * (big_vision init), AdamW, images uniform in [-1, 1) and one-hot targets. One {@link #run}
 * is forward, loss, backward and the optimiser update, finished on the device.
 */
public final class SyntheticStep implements AutoCloseable {
    /** No clipping and PyTorch's AdamW defaults, as in the peer script bench/pytorch/train_step_cpu.py. */
    public static final AdamW.Config OPTIMIZER = new AdamW.Config(0.9f, 0.999f, 1e-8f, 1e-4f, 1e-4f, 0f);
    public static final float LR = 1e-4f;

    private final Backend backend;
    private final ViT model;
    private final AdamW optimizer;
    private final Tensor images, targets;
    private final int batch;

    public SyntheticStep(Backend backend, ModelConfig config, int batch, long seed) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive, got " + batch);
        if (config.classes() <= 0)
            throw new IllegalArgumentException("model '" + config.name() + "' has no classifier; give it classes to train it");
        this.backend = backend;
        this.batch = batch;
        this.model = new ViT(backend, config);
        Init.init(backend, model.layout(), model.params(), seed);
        this.optimizer = new AdamW(backend, model, OPTIMIZER);
        SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
        int s = config.imageSize();
        float[] px = new float[batch * config.channels() * s * s];
        for (int i = 0; i < px.length; i++) px[i] = (float) (2 * r.nextDouble() - 1);
        float[] oneHot = new float[batch * config.classes()];
        for (int b = 0; b < batch; b++) oneHot[b * config.classes() + r.nextInt(config.classes())] = 1f;
        images = backend.allocate(batch, config.channels(), s, s);
        targets = backend.allocate(batch, config.classes());
        backend.upload(images, px);
        backend.upload(targets, oneHot);
    }

    /** One training step; returns the batch's mean loss before the update. */
    public double run() {
        double loss = model.forwardBackward(images, targets);
        optimizer.step(LR);
        backend.synchronize();
        return loss;
    }

    public ViT model() { return model; }

    public int batch() { return batch; }

    @Override public void close() {
        backend.free(images);
        backend.free(targets);
        optimizer.close();
        model.close();
    }
}
