package vit22b.model;

import vit22b.graph.Mesh;

/**
 * One device's part of a block on a t x k mesh (paper section 3): model shard {@code j} of
 * {@code k} (its H/k heads of q, k and v and M/k MLP units) over a data shard of {@code imgs}
 * images. Between blocks the residual stream is sharded over tokens along the model axis: the
 * device holds {@link #localRows} of the data shard's {@link #rows}. The unsharded model is
 * {@link #whole} (k = 1).
 */
public record Shard(ModelConfig config, int k, int j, int imgs) {

    public Shard {
        if (k <= 0 || j < 0 || j >= k || imgs <= 0)
            throw new IllegalArgumentException("shard " + j + " of " + k + " over " + imgs + " images is not a shard");
    }

    /** The unsharded block over a batch. */
    public static Shard whole(ModelConfig c, int batch) { return new Shard(c, 1, 0, batch); }

    /** Token rows of the data shard. */
    public int rows() { return imgs * config.tokens(); }
    /** Token rows this device holds between blocks. */
    public int localRows() { return rows() / k; }
    /** MLP units of this shard. */
    public int mlp() { return config.mlp() / k; }
    /** Heads of this shard. */
    public int heads() { return config.heads() / k; }
    /** Width of this shard's q (and k, v): its heads times the head dimension. */
    public int width() { return heads() * config.headDim(); }
    /** Rows of the shard's in-projection weight: [MLP | q | k | v]. */
    public int inRows() { return mlp() + 3 * width(); }
    /** Columns of the shard's out-projection weight: [attention | MLP]. */
    public int outCols() { return width() + mlp(); }

    /** The in-projection epilogue's shape for this shard. */
    public vit22b.backend.Backend.InProj inProj() {
        return new vit22b.backend.Backend.InProj(imgs, config.tokens(), mlp(), heads(), config.headDim());
    }

    /**
     * Refuses a mesh that cannot shard {@code c} with global batch {@code batch}: the model axis
     * must divide the heads and the MLP width (each shard holds whole heads and MLP units) and
     * the tokens per image (activations between blocks are sharded over tokens); the data axis
     * must divide the batch. The sharded block is the paper's: other block variants are refused.
     */
    public static void check(ModelConfig c, Mesh mesh, int batch) {
        int data = mesh.data(), model = mesh.model();
        String m = "mesh " + mesh + " cannot shard model '" + c.name() + "' with batch " + batch + ": ";
        if (!c.variant().isPaper())
            throw new IllegalArgumentException(m + "the sharded block is the paper's only, and this model uses "
                    + c.variant().flags() + "; train the variant on one device (drop the mesh) or drop those flags");
        if (c.heads() % model != 0)
            throw new IllegalArgumentException(m + "model axis " + model + " does not divide the " + c.heads()
                    + " heads; use a model axis that divides " + c.heads() + " (e.g. " + divisorNear(c.heads(), model) + ")");
        if (c.mlp() % model != 0)
            throw new IllegalArgumentException(m + "model axis " + model + " does not divide the MLP width " + c.mlp()
                    + "; use a model axis that divides " + c.mlp() + " (e.g. " + divisorNear(c.mlp(), model) + ")");
        if (c.tokens() % model != 0)
            throw new IllegalArgumentException(m + "model axis " + model + " does not divide the " + c.tokens()
                    + " tokens per image; use a model axis that divides " + c.tokens()
                    + " (e.g. " + divisorNear(c.tokens(), model) + ")");
        if (batch % data != 0)
            throw new IllegalArgumentException(m + "data axis " + data + " does not divide the batch " + batch
                    + "; use a batch that is a multiple of " + data + " (e.g. " + (batch / data + 1) * data + ")");
    }

    private static int divisorNear(int n, int near) {
        for (int d = 0; ; d++) {
            if (near - d > 0 && n % (near - d) == 0) return near - d;
            if (n % (near + d) == 0) return near + d;
        }
    }
}
