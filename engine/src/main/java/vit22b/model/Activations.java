package vit22b.model;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * The buffers of one pass for a fixed batch size, reused across steps. For training, every
 * layer keeps what its backward needs, plus backward scratch shared by all layers; for
 * inference, one layer's buffers and two residual streams (ping-pong) serve every layer.
 */
final class Activations implements AutoCloseable {

    /**
     * What one block's forward keeps for its backward. pre is the in-projection's output and ag
     * the out-projection's input: (T, M+3D) and (T, D+M) in the parallel block, (T, 3D) and
     * (T, D) in the sequential one. The rest serves the variants ({@link Block}) and is null
     * for the paper's block: qRaw, kRaw (q and k before QK-norm, with it), h and g (the MLP's
     * GELU input and output), and the sequential block's middle residual x1, its norm y2 and
     * that norm's statistics.
     */
    record Layer(Tensor normStats, Tensor y, Tensor pre, Tensor ag, Tensor q, Tensor k, Tensor v,
                 Tensor qkStats, Tensor lse, Tensor qRaw, Tensor kRaw, Tensor h, Tensor g,
                 Tensor x1, Tensor y2, Tensor norm2Stats) {}

    final int batch;
    final boolean training;
    private final Tensor[] x;
    private final Layer[] layers;
    /** Final norm: statistics (T, 2) and output (T, D), the MAP head's input. */
    final Tensor finalStats, xf;
    final MapHead head;
    /** Classifier output and its gradient (B, classes); null without classes. */
    final Tensor logits, dlogits;
    /** Backward scratch shared by all blocks (null for inference): the residual gradient dx and the rest. */
    final Tensor dx, dy, dag, dq, dk, dv, dpre, dxf;
    /** Variant backward scratch (null for the paper's block): q, k before QK-norm and the MLP's h and g. */
    final Tensor dqRaw, dkRaw, dh, dg;

    private final Buffers buffers;

    Activations(Backend backend, ModelConfig c, int batch, boolean training) {
        this.batch = batch;
        this.training = training;
        this.buffers = new Buffers(backend, backend.precision().compute());
        try {
            int t = batch * c.tokens(), d = c.width(), h = c.heads(), n = c.tokens(), hd = c.headDim();
            x = new Tensor[training ? c.depth() + 1 : 2];
            for (int i = 0; i < x.length; i++) x[i] = buffers.get(t, d);
            Variant v = c.variant();
            boolean paper = v.isPaper(), rawQk = !paper && v.qkNorm();
            int preW = v.parallel() ? c.inProjRows() : 3 * d, agW = v.parallel() ? c.outProjCols() : d, m = c.mlp();
            layers = new Layer[training ? c.depth() : 1];
            for (int i = 0; i < layers.length; i++)
                layers[i] = new Layer(buffers.f32(t, 2), buffers.get(t, d), buffers.get(t, preW),
                        buffers.get(t, agW), buffers.get(batch, h, n, hd), buffers.get(batch, h, n, hd),
                        buffers.get(batch, h, n, hd), buffers.f32(2, batch, h, n, 2), buffers.f32(batch, h, n),
                        rawQk ? buffers.get(batch, h, n, hd) : null, rawQk ? buffers.get(batch, h, n, hd) : null,
                        paper ? null : buffers.get(t, m), paper ? null : buffers.get(t, m),
                        v.parallel() ? null : buffers.get(t, d), v.parallel() ? null : buffers.get(t, d),
                        v.parallel() ? null : buffers.f32(t, 2));
            finalStats = buffers.f32(t, 2);
            xf = buffers.get(t, d);
            head = new MapHead(buffers, c, batch, training);
            logits = c.classes() > 0 ? buffers.get(batch, c.classes()) : null;
            dlogits = c.classes() > 0 ? buffers.get(batch, c.classes()) : null;
            dx = training ? buffers.get(t, d) : null;
            dy = training ? buffers.get(t, d) : null;
            dag = training ? buffers.get(t, agW) : null;
            dq = training ? buffers.get(batch, h, n, hd) : null;
            dk = training ? buffers.get(batch, h, n, hd) : null;
            dv = training ? buffers.get(batch, h, n, hd) : null;
            dpre = training ? buffers.get(t, preW) : null;
            dxf = training ? buffers.get(t, d) : null;
            dqRaw = training && rawQk ? buffers.get(batch, h, n, hd) : null;
            dkRaw = training && rawQk ? buffers.get(batch, h, n, hd) : null;
            dh = training && !paper ? buffers.get(t, m) : null;
            dg = training && !paper ? buffers.get(t, m) : null;
        } catch (RuntimeException | Error e) {
            buffers.close();   // e.g. out of device memory: free what was taken
            throw e;
        }
    }

    /** Residual stream (T, D) entering block i (i = depth: the last block's output). */
    Tensor x(int i) { return x[training ? i : i % 2]; }

    /** Block i's saved activations. */
    Layer layer(int i) { return layers[training ? i : 0]; }

    @Override public void close() { buffers.close(); }
}
