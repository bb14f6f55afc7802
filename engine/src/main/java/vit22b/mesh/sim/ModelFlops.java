package vit22b.mesh.sim;

import vit22b.model.ModelConfig;

/**
 * Model FLOPs as DESIGN.md counts them (PaLM's accounting): forward = 2 x matmul MACs including
 * attention; a training step = 3 x forward. Recomputation is not model FLOPs.
 */
public final class ModelFlops {
    private ModelFlops() {}

    /** Forward FLOPs of one block for one image. */
    public static double blockForward(ModelConfig c) {
        double n = c.tokens(), d = c.width(), m = c.mlp();
        double proj = n * d * (m + 3 * d) + n * (d + m) * d;
        double attention = 2 * n * n * d;            // q k^T and a v, all heads
        return 2 * (proj + attention);
    }

    /** Forward FLOPs of the patch embedding, MAP head and classifier for one image. */
    public static double embedAndHead(ModelConfig c) {
        double n = c.tokens(), d = c.width(), m = c.mlp();
        double embed = n * c.channels() * c.patch() * c.patch() * d;
        double head = d * d + n * 2 * d * d + 2 * n * d + d * d + 2 * d * m + d * c.classes();
        return 2 * (embed + head);
    }

    /** Forward FLOPs of the whole model for one image. */
    public static double forward(ModelConfig c) { return embedAndHead(c) + c.depth() * blockForward(c); }

    /** Training FLOPs for one image (3 x forward). */
    public static double train(ModelConfig c) { return 3 * forward(c); }
}
