package vit22b.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import vit22b.tensor.Tensor;

/**
 * Where each parameter lives in the one flat float32 buffer (llm.c style), under its timm
 * tensor name (DESIGN.md, "Files and formats"), with the shape PyTorch stores it in.
 * Gradients, Adam moments and checkpoints use the same layout.
 *
 * <p>Block names by {@link Variant}: the parallel block uses timm's {@code ParallelScalingBlock}
 * names ({@code in_norm}, {@code in_proj}, {@code mlp_bias}, {@code q_norm}, {@code k_norm},
 * {@code out_proj}); with biases, {@code in_proj.bias} (M+3D, timm's {@code qkv_bias=True}
 * layout) replaces {@code mlp_bias} and every norm has a {@code .bias}. The sequential block
 * uses timm's {@code Block} names ({@code norm1}, {@code attn.qkv}, {@code attn.q_norm},
 * {@code attn.k_norm}, {@code attn.proj}, {@code norm2}, {@code mlp.fc1}, {@code mlp.fc2}).
 * Without QK-norm the q/k norm tensors are absent (timm's {@code nn.Identity}).
 */
public final class ParamLayout {

    /** Which weight-decay group a parameter belongs to (big_vision decays kernels only). */
    public enum Decay { NONE, BODY, HEAD }

    /** One named parameter: offset (floats) into the flat buffer, PyTorch shape, decay group. */
    public record Entry(String name, long offset, int[] shape, Decay decay) {
        public long size() { return Tensor.sizeOf(shape); }

        /** This parameter's elements in a flat float32 buffer of the layout (master weights: always float32). */
        public java.lang.foreign.MemorySegment in(java.lang.foreign.MemorySegment flatF32) {
            long bytes = vit22b.io.DType.F32.size;
            return flatF32.asSlice(offset * bytes, size() * bytes);
        }
    }

    private final ModelConfig config;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    /** The model axis a {@link #blockShard} divides by; 1 for whole models. */
    private final int k;
    private long total;

    public ParamLayout(ModelConfig c) { this(c, c.depth(), 1, true); }

    /**
     * The parameters outside the blocks (patch embedding, final norm, MAP head, classifier),
     * with the same names, shapes and order as in the full layout: what a mesh replicates over
     * its model axis. {@link #config()} is still {@code c}.
     */
    public static ParamLayout withoutBlocks(ModelConfig c) { return new ParamLayout(c, 0, 1, true); }

    /**
     * {@code blocks} blocks named "blocks.i." (with {@code rest}, amid the parameters outside
     * the blocks), or one block without a prefix, sharded over a model axis of {@code k}.
     */
    private ParamLayout(ModelConfig c, int blocks, int k, boolean rest) {
        this.config = c;
        this.k = k;
        if (k > 1 && !c.variant().isPaper())
            throw new IllegalArgumentException("only the paper's block shards over a model axis, not the " + c.variant());
        if (c.mlp() % k != 0 || c.heads() % k != 0)
            throw new IllegalArgumentException("model axis " + k + " does not divide the MLP width and the heads of " + c.name());
        if (!rest) {
            addBlock("");
            return;
        }
        int d = c.width(), m = c.mlp();
        add("patch_embed.proj.weight", Decay.BODY, d, c.channels(), c.patch(), c.patch());
        add("patch_embed.proj.bias", Decay.NONE, d);
        add("pos_embed", Decay.NONE, 1, c.tokens(), d);
        Variant v = c.variant();
        for (int i = 0; i < blocks; i++) addBlock("blocks." + i + ".");
        norm("norm", v.biases());
        add("attn_pool.latent", Decay.NONE, 1, 1, d);
        add("attn_pool.q.weight", Decay.BODY, d, d);
        add("attn_pool.q.bias", Decay.NONE, d);
        add("attn_pool.kv.weight", Decay.BODY, 2 * d, d);   // rows: [k | v]
        add("attn_pool.kv.bias", Decay.NONE, 2 * d);
        add("attn_pool.proj.weight", Decay.BODY, d, d);
        add("attn_pool.proj.bias", Decay.NONE, d);
        add("attn_pool.norm.weight", Decay.NONE, d);
        add("attn_pool.norm.bias", Decay.NONE, d);
        add("attn_pool.mlp.fc1.weight", Decay.BODY, m, d);
        add("attn_pool.mlp.fc1.bias", Decay.NONE, m);
        add("attn_pool.mlp.fc2.weight", Decay.BODY, d, m);
        add("attn_pool.mlp.fc2.bias", Decay.NONE, d);
        if (c.classes() > 0) {
            add("head.weight", Decay.HEAD, c.classes(), d);
            add("head.bias", Decay.NONE, c.classes());
        }
    }

    /**
     * One model shard's block on a mesh with model axis {@code k} (paper section 3): the entries of
     * one block without the "blocks.i." prefix, in the same order and decay groups, the in- and
     * out-projections (and the MLP bias) holding 1/k of the MLP units and heads: W_in's rows of
     * those units and of those heads of q, k and v, W_out's columns for them. The norm scales and
     * the out-projection's bias stay whole on every shard ({@link #split}).
     */
    public static ParamLayout blockShard(ModelConfig c, int k) { return new ParamLayout(c, 1, k, false); }

    private void addBlock(String b) {
        ModelConfig c = config;
        Variant v = c.variant();
        int d = c.width(), m = c.mlp();
        if (v.parallel()) {
            norm(b + "in_norm", v.biases());
            add(b + "in_proj.weight", Decay.BODY, c.inProjRows() / k, d);   // rows: [MLP | q | k | v]
            if (v.biases()) add(b + "in_proj.bias", Decay.NONE, c.inProjRows() / k);
            else add(b + "mlp_bias", Decay.NONE, m / k);
            if (v.qkNorm()) { norm(b + "q_norm", v.biases()); norm(b + "k_norm", v.biases()); }
            add(b + "out_proj.weight", Decay.BODY, d, c.outProjCols() / k); // cols: [attention | MLP]
            add(b + "out_proj.bias", Decay.NONE, d);
        } else {   // timm's Block: the original ViT's names
            norm(b + "norm1", v.biases());
            add(b + "attn.qkv.weight", Decay.BODY, 3 * d, d);           // rows: [q | k | v]
            if (v.biases()) add(b + "attn.qkv.bias", Decay.NONE, 3 * d);
            if (v.qkNorm()) { norm(b + "attn.q_norm", v.biases()); norm(b + "attn.k_norm", v.biases()); }
            add(b + "attn.proj.weight", Decay.BODY, d, d);
            add(b + "attn.proj.bias", Decay.NONE, d);
            norm(b + "norm2", v.biases());
            add(b + "mlp.fc1.weight", Decay.BODY, m, d);
            add(b + "mlp.fc1.bias", Decay.NONE, m);
            add(b + "mlp.fc2.weight", Decay.BODY, d, m);
            add(b + "mlp.fc2.bias", Decay.NONE, d);
        }
    }

    /**
     * The runs of a block entry that a model shard takes, as (dimension, segments): its rows
     * (dimension 0) or columns (dimension 1) fall in segments (the parts [MLP | q | k | v] of
     * the in-projection's rows, [attention | MLP] of the out-projection's columns), and shard j
     * takes the j-th k-th of each. Null for an entry every shard holds whole.
     */
    private static int[][] split(ModelConfig c, String name) {
        int d = c.width(), m = c.mlp();
        return switch (name) {
            case "in_proj.weight", "in_proj.bias" -> new int[][]{{0}, {m, d, d, d}};
            case "mlp_bias" -> new int[][]{{0}, {m}};
            case "out_proj.weight" -> new int[][]{{1}, {d, m}};
            default -> null;
        };
    }

    /** Whether a model shard holds this block entry whole (its gradient is then a partial sum over the model axis). */
    public boolean whole(String name) { return split(config, name) == null; }

    /**
     * Copies between block {@code l} of a full flat ({@code full}'s order) and model shard j's
     * flat of this {@link #blockShard} layout: into the shard when {@code toShard}, back into the
     * full flat otherwise.
     */
    private void copyShard(ParamLayout full, float[] fullFlat, int l, float[] shard, int j, boolean toShard) {
        for (Entry e : entries.values()) {
            Entry f = full.entry("blocks." + l + "." + e.name());
            int[][] sp = split(config, e.name());
            if (sp == null) {
                move(fullFlat, f.offset(), shard, e.offset(), e.size(), toShard);
                continue;
            }
            int rows = f.shape()[0], cols = (int) (f.size() / rows);
            long at = e.offset();
            if (sp[0][0] == 0) {   // rows: segment by segment, this shard's rows of each
                int start = 0;
                for (int seg : sp[1]) {
                    int n = seg / k;
                    move(fullFlat, f.offset() + (long) (start + j * n) * cols, shard, at, (long) n * cols, toShard);
                    at += (long) n * cols;
                    start += seg;
                }
            } else {   // columns: row by row, this shard's columns of each segment
                for (int r = 0; r < rows; r++) {
                    int start = 0;
                    for (int seg : sp[1]) {
                        int n = seg / k;
                        move(fullFlat, f.offset() + (long) r * cols + start + (long) j * n, shard, at, n, toShard);
                        at += n;
                        start += seg;
                    }
                }
            }
        }
    }

    /** Model shard j's flat of block l (this {@link #blockShard} layout's order) out of a full model's flat. */
    public float[] extractShard(float[] full, int l, int j) {
        float[] s = new float[Math.toIntExact(total)];
        copyShard(new ParamLayout(config), full, l, s, j, true);
        return s;
    }

    /** The inverse of {@link #extractShard}: writes model shard j's flat of block l into a full model's flat. */
    public void insertShard(float[] shard, float[] full, int l, int j) {
        copyShard(new ParamLayout(config), full, l, shard, j, false);
    }

    /** This layout's entries (by name) out of the flat of {@code full}, a layout of the same model holding them all. */
    public float[] extract(ParamLayout full, float[] flat) {
        float[] out = new float[Math.toIntExact(total)];
        for (Entry e : entries.values())
            System.arraycopy(flat, Math.toIntExact(full.entry(e.name()).offset()), out, Math.toIntExact(e.offset()),
                    Math.toIntExact(e.size()));
        return out;
    }

    private static void move(float[] full, long fullAt, float[] shard, long shardAt, long n, boolean toShard) {
        if (toShard) System.arraycopy(full, Math.toIntExact(fullAt), shard, Math.toIntExact(shardAt), Math.toIntExact(n));
        else System.arraycopy(shard, Math.toIntExact(shardAt), full, Math.toIntExact(fullAt), Math.toIntExact(n));
    }

    /** A norm's scale (width D, or hd for the q/k norms) and, with biases, its bias. */
    private void norm(String prefix, boolean bias) {
        int w = prefix.endsWith("q_norm") || prefix.endsWith("k_norm") ? config.headDim() : config.width();
        add(prefix + ".weight", Decay.NONE, w);
        if (bias) add(prefix + ".bias", Decay.NONE, w);
    }

    private void add(String name, Decay decay, int... shape) {
        Entry e = new Entry(name, total, shape, decay);
        entries.put(name, e);
        total += e.size();
    }

    public ModelConfig config() { return config; }

    /** Total parameter count, i.e. the flat buffer's length in floats. */
    public long total() { return total; }

    public List<Entry> entries() { return Collections.unmodifiableList(new ArrayList<>(entries.values())); }

    public boolean has(String name) { return entries.containsKey(name); }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException("no parameter named '" + name + "' in model " + config.name());
        return e;
    }

    /** The named view into {@code flat} (a tensor of {@link #total()} floats), in its PyTorch shape. */
    public Tensor view(Tensor flat, String name) {
        Entry e = entry(name);
        return flat.view(e.offset(), e.shape());
    }

    /** Block i's parameter {@code suffix} (e.g. "in_proj.weight"). */
    public Tensor block(Tensor flat, int i, String suffix) {
        return view(flat, "blocks." + i + "." + suffix);
    }
}
