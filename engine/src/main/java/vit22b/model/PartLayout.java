package vit22b.model;

/**
 * The parameters of an inference-only model ({@link ViT#inference}) as separate flats, so that no
 * array, int offset or single allocation has to hold the whole model (ViT-22B: 22.2e9
 * parameters, past 2^31): part 0 holds everything outside the blocks ({@link ParamLayout#withoutBlocks}),
 * part 1 + i block i ({@link ParamLayout#blockShard} with k = 1: the block's entries without the
 * "blocks.i." prefix). Names, shapes and order within each part are those of the full
 * {@link ParamLayout}; offsets are longs throughout.
 */
public record PartLayout(ParamLayout full, ParamLayout rest, ParamLayout block) {

    /** Where a named parameter lives: its part and its entry in that part's layout. */
    public record Place(int part, ParamLayout.Entry entry) {}

    public static PartLayout of(ModelConfig c) {
        return new PartLayout(new ParamLayout(c), ParamLayout.withoutBlocks(c), ParamLayout.blockShard(c, 1));
    }

    public ModelConfig config() { return full.config(); }

    /** 1 + depth. */
    public int parts() { return 1 + config().depth(); }

    /** Elements of part p. */
    public long elements(int p) { return p == 0 ? rest.total() : block.total(); }

    /** The part layout of part p. */
    public ParamLayout layout(int p) { return p == 0 ? rest : block; }

    /** Every part's elements together: the full layout's total. */
    public long total() { return rest.total() + (long) config().depth() * block.total(); }

    /** The largest part, in elements. */
    public long largest() { return Math.max(rest.total(), block.total()); }

    /**
     * Refuses a model one of whose parts has more than 2^31-1 elements (a tensor's shape is ints):
     * a single block that large would need the block itself split.
     */
    public PartLayout requireFits() {
        if (largest() > Integer.MAX_VALUE)
            throw new IllegalArgumentException("model '" + config().name() + "' has " + (block.total() >= rest.total()
                    ? "blocks of " + block.total() : "a head and embedding of " + rest.total())
                    + " parameters, more than one buffer of 2^31-1 elements holds; use a smaller width or MLP");
        return this;
    }

    /** The part and entry of a full-layout name ("blocks.3.in_proj.weight" is part 4, entry "in_proj.weight"). */
    public Place place(String name) {
        full.entry(name);   // refuses unknown names with the model's name
        if (name.startsWith("blocks.")) {
            int dot = name.indexOf('.', 7);
            return new Place(1 + Integer.parseInt(name.substring(7, dot)), block.entry(name.substring(dot + 1)));
        }
        return new Place(0, rest.entry(name));
    }
}
