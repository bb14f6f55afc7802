package vit22b.graph;

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

    @Override public String toString() { return data + "x" + model; }
}
