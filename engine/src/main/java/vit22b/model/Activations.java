package vit22b.model;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * The buffers of one forward and backward pass for a fixed batch size, reused across steps:
 * what each layer's forward keeps for its backward, and backward scratch shared by all layers.
 */
final class Activations implements AutoCloseable {

    /** What one block's forward keeps for its backward. */
    record Layer(Tensor normStats, Tensor y, Tensor pre, Tensor ag, Tensor q, Tensor k, Tensor v,
                 Tensor qkStats, Tensor lse) {}

    final int batch;
    /** Residual streams (T, D): x[0] is the patch embedding, x[l + 1] the output of block l. */
    final Tensor[] x;
    final Layer[] layers;
    /** Final norm: statistics (T, 2) and output (T, D), the MAP head's input. */
    final Tensor finalStats, xf;
    final MapHead head;
    /** Classifier output and its gradient (B, classes); null without classes. */
    final Tensor logits, dlogits;
    /** Backward scratch shared by all blocks: the residual gradient dx and the rest. */
    final Tensor dx, dy, dag, dq, dk, dv, dpre, dxf;

    private final Buffers buffers;

    Activations(Backend backend, ModelConfig c, int batch) {
        this.batch = batch;
        this.buffers = new Buffers(backend);
        int t = batch * c.tokens(), d = c.width(), h = c.heads(), n = c.tokens(), hd = c.headDim();
        x = new Tensor[c.depth() + 1];
        for (int i = 0; i <= c.depth(); i++) x[i] = buffers.get(t, d);
        layers = new Layer[c.depth()];
        for (int i = 0; i < c.depth(); i++)
            layers[i] = new Layer(buffers.get(t, 2), buffers.get(t, d), buffers.get(t, c.inProjRows()),
                    buffers.get(t, c.outProjCols()), buffers.get(batch, h, n, hd), buffers.get(batch, h, n, hd),
                    buffers.get(batch, h, n, hd), buffers.get(2, batch, h, n, 2), buffers.get(batch, h, n));
        finalStats = buffers.get(t, 2);
        xf = buffers.get(t, d);
        head = new MapHead(buffers, c, batch);
        logits = c.classes() > 0 ? buffers.get(batch, c.classes()) : null;
        dlogits = c.classes() > 0 ? buffers.get(batch, c.classes()) : null;
        dx = buffers.get(t, d);
        dy = buffers.get(t, d);
        dag = buffers.get(t, c.outProjCols());
        dq = buffers.get(batch, h, n, hd);
        dk = buffers.get(batch, h, n, hd);
        dv = buffers.get(batch, h, n, hd);
        dpre = buffers.get(t, c.inProjRows());
        dxf = buffers.get(t, d);
    }

    @Override public void close() { buffers.close(); }
}
