package vit22b.mesh;

import vit22b.model.ModelConfig;

/**
 * A logical t x k mesh of devices: {@code data} (t) batch shards times {@code model} (k) weight
 * shards. Rank r = i * k + j for data index i and model index j, so a model group (the k
 * devices of one data shard) is contiguous; on GPUs that keeps it inside one NVLink node.
 */
public record Mesh(int data, int model) {

    public Mesh {
        if (data <= 0 || model <= 0)
            throw new IllegalArgumentException("mesh " + data + "x" + model + ": both axes must be positive");
    }

    /** Parses "TxK", e.g. "64x16". */
    public static Mesh parse(String s) {
        String[] p = s.trim().toLowerCase().split("x");
        try {
            if (p.length == 2) return new Mesh(Integer.parseInt(p[0]), Integer.parseInt(p[1]));
        } catch (NumberFormatException ignored) {
            // fall through to the message below
        }
        throw new IllegalArgumentException("mesh '" + s + "' is not of the form TxK (data x model), e.g. 64x16");
    }

    public int devices() { return data * model; }

    public int size(Axis a) { return a == Axis.DATA ? data : model; }

    public int rank(int dataIndex, int modelIndex) { return dataIndex * model + modelIndex; }

    public int dataIndex(int rank) { return rank / model; }

    public int modelIndex(int rank) { return rank % model; }

    /** This rank's position along {@code a}. */
    public int index(Axis a, int rank) { return a == Axis.DATA ? dataIndex(rank) : modelIndex(rank); }

    /** The ranks of {@code rank}'s group along {@code a}, in ring order (position p at index p). */
    public int[] group(Axis a, int rank) {
        int[] g = new int[size(a)];
        for (int p = 0; p < g.length; p++)
            g[p] = a == Axis.DATA ? rank(p, modelIndex(rank)) : rank(dataIndex(rank), p);
        return g;
    }

    /** The rank {@code steps} positions further along the ring of {@code a} (negative: backwards). */
    public int neighbour(Axis a, int rank, int steps) {
        int n = size(a);
        int p = Math.floorMod(index(a, rank) + steps, n);
        return a == Axis.DATA ? rank(p, modelIndex(rank)) : rank(dataIndex(rank), p);
    }

    /**
     * Refuses a mesh that cannot shard {@code c} with global batch {@code batch}: the model axis
     * must divide the heads and the MLP width (each shard holds whole heads and MLP units) and
     * the tokens per image (activations between blocks are sharded over tokens); the data axis
     * must divide the batch. The sharded block is the paper's: other block variants are refused.
     */
    public void checkShards(ModelConfig c, int batch) {
        String m = "mesh " + this + " cannot shard model '" + c.name() + "' with batch " + batch + ": ";
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

    @Override public String toString() { return data + "x" + model; }
}
