package vit22b.model;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * The buffers of one pass for a fixed batch size, reused across steps. For training, every
 * layer keeps what its backward needs ({@link Block.Saved}), plus backward scratch shared by all
 * layers; for inference, one layer's buffers and two residual streams (ping-pong) serve every layer.
 */
final class Activations implements AutoCloseable {

    final int batch;
    final boolean training;
    final Shard shard;
    private final Tensor[] x;
    private final Block.Saved[] layers;
    final Block.Scratch scratch;
    final Head head;
    /** The residual stream's gradient (T, D), null for inference. */
    final Tensor dx;

    private final Buffers buffers;

    Activations(Backend backend, ModelConfig c, int batch, boolean training) {
        this.batch = batch;
        this.training = training;
        this.shard = Shard.whole(c, batch);
        this.buffers = new Buffers(backend, backend.precision().compute());
        try {
            int t = batch * c.tokens(), d = c.width();
            x = new Tensor[training ? c.depth() + 1 : 2];
            for (int i = 0; i < x.length; i++) x[i] = buffers.get(t, d);
            layers = new Block.Saved[training ? c.depth() : 1];
            for (int i = 0; i < layers.length; i++) layers[i] = Block.saved(buffers, shard);
            scratch = Block.scratch(buffers, shard, training);
            head = new Head(buffers, c, batch, training);
            dx = training ? buffers.get(t, d) : null;
        } catch (RuntimeException | Error e) {
            buffers.close();   // e.g. out of device memory: free what was taken
            throw e;
        }
    }

    /** Residual stream (T, D) entering block i (i = depth: the last block's output). */
    Tensor x(int i) { return x[training ? i : i % 2]; }

    /** Block i's saved activations. */
    Block.Saved layer(int i) { return layers[training ? i : 0]; }

    @Override public void close() { buffers.close(); }
}
