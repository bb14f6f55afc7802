package vit22b.model;

import java.util.Set;

/**
 * What a model costs: parameters by part, FLOPs per image and the memory of its training
 * state. FLOPs follow PaLM's accounting (DESIGN.md, "Performance accounting"): forward =
 * 2 x the multiply-accumulates of every matmul, attention's q k^T and p v included;
 * training = 3 x forward (backward computes two matmuls per forward matmul). It is a
 * convention: the patch embedding's backward skips the image gradient, so the engine does
 * slightly less work than the training figure counts.
 */
public record ModelStats(ModelConfig config, Params params, Flops flops, Memory fp32, Memory mixed) {

    /** The parts a parameter count can include; Table 1's rows each count a subset. */
    public enum Part { BACKBONE, MAP_HEAD, CLASSIFIER }

    /**
     * Parameter counts: backbone (patch embedding, position embedding, blocks, final norm),
     * MAP head (attn_pool.*) and classifier (head.*).
     */
    public record Params(long backbone, long mapHead, long classifier) {
        public long total() { return backbone + mapHead + classifier; }

        public long count(Set<Part> parts) {
            return (parts.contains(Part.BACKBONE) ? backbone : 0)
                    + (parts.contains(Part.MAP_HEAD) ? mapHead : 0)
                    + (parts.contains(Part.CLASSIFIER) ? classifier : 0);
        }
    }

    /** Model FLOPs per image. */
    public record Flops(long forwardPerImage) {
        public long trainingPerImage() { return 3 * forwardPerImage; }
    }

    /**
     * Bytes of the training state: weights, an fp32 master copy (mixed precision only),
     * gradients and AdamW's two moments.
     */
    public record Memory(String precision, long weights, long master, long gradients, long adam) {
        public long total() { return weights + master + gradients + adam; }
    }

    public static ModelStats of(ModelConfig c) {
        Params p = params(new ParamLayout(c));
        long n = p.total();
        // fp32: weights, gradients, Adam m and v all 4 bytes.
        Memory fp32 = new Memory("fp32", 4 * n, 0, 4 * n, 8 * n);
        // Mixed: bf16 weights for compute, fp32 master the optimiser updates, fp32 gradients
        // (accumulated in fp32), fp32 moments.
        Memory mixed = new Memory("bf16 weights + fp32 master", 2 * n, 4 * n, 4 * n, 8 * n);
        return new ModelStats(c, p, new Flops(forwardFlopsPerImage(c)), fp32, mixed);
    }

    private static Params params(ParamLayout layout) {
        long backbone = 0, map = 0, cls = 0;
        for (ParamLayout.Entry e : layout.entries()) {
            if (e.name().startsWith("attn_pool.")) map += e.size();
            else if (e.name().startsWith("head.")) cls += e.size();
            else backbone += e.size();
        }
        return new Params(backbone, map, cls);
    }

    /** 2 x matmul MACs of one image's forward pass (PaLM's accounting; the simulator and benchmarks use it too). */
    public static long forwardFlopsPerImage(ModelConfig c) {
        return embedAndHeadForwardFlops(c) + c.depth() * blockForwardFlops(c);
    }

    /** 2 x matmul MACs of one block's forward pass for one image. */
    public static long blockForwardFlops(ModelConfig c) {
        long d = c.width(), m = c.mlp(), n = c.tokens();
        return 2 * (n * d * (m + 3 * d)                      // fused in-projection
                + n * (d + m) * d)                            // fused out-projection
                + blockAttentionForwardFlops(c);
    }

    /** The part of {@link #blockForwardFlops} in attention's q k^T and p v over all heads. */
    public static long blockAttentionForwardFlops(ModelConfig c) {
        long n = c.tokens();
        return 2 * 2 * n * n * c.width();
    }

    /**
     * The part of {@link #forwardFlopsPerImage} in attention's q k^T and p v (the blocks' and the
     * MAP head's one-query attention); the rest is the linear layers' GEMMs.
     */
    public static long attentionForwardFlopsPerImage(ModelConfig c) {
        return c.depth() * blockAttentionForwardFlops(c) + 2 * 2 * c.tokens() * c.width();
    }

    /** 2 x matmul MACs of the patch embedding, MAP head and classifier for one image. */
    public static long embedAndHeadForwardFlops(ModelConfig c) {
        long d = c.width(), m = c.mlp(), n = c.tokens();
        long mapHead = d * d                                  // probe query
                + n * d * 2 * d                               // keys and values of the tokens
                + 2 * n * d                                   // one query's attention (attentionForwardFlopsPerImage)
                + d * d                                       // output projection
                + 2 * d * m;                                  // MLP
        long classifier = d * c.classes();
        return patchEmbedForwardFlops(c) + 2 * (mapHead + classifier);
    }

    /** 2 x matmul MACs of the patch embedding for one image: the conv as (N x CP^2) @ (CP^2 x D). */
    public static long patchEmbedForwardFlops(ModelConfig c) {
        return 2L * c.tokens() * c.channels() * c.patch() * c.patch() * c.width();
    }
}
