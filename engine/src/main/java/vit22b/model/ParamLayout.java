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
 */
public final class ParamLayout {

    /** Which weight-decay group a parameter belongs to (big_vision decays kernels only). */
    public enum Decay { NONE, BODY, HEAD }

    /** One named parameter: offset (floats) into the flat buffer, PyTorch shape, decay group. */
    public record Entry(String name, long offset, int[] shape, Decay decay) {
        public long size() { return Tensor.sizeOf(shape); }
    }

    private final ModelConfig config;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private long total;

    public ParamLayout(ModelConfig c) { this(c, c.depth()); }

    /**
     * The parameters outside the blocks (patch embedding, final norm, MAP head, classifier),
     * with the same names, shapes and order as in the full layout: what a mesh replicates over
     * its model axis. {@link #config()} is still {@code c}.
     */
    public static ParamLayout withoutBlocks(ModelConfig c) { return new ParamLayout(c, 0); }

    private ParamLayout(ModelConfig c, int blocks) {
        this.config = c;
        int d = c.width(), m = c.mlp(), hd = c.headDim();
        add("patch_embed.proj.weight", Decay.BODY, d, c.channels(), c.patch(), c.patch());
        add("patch_embed.proj.bias", Decay.NONE, d);
        add("pos_embed", Decay.NONE, 1, c.tokens(), d);
        for (int i = 0; i < blocks; i++) {
            String b = "blocks." + i + ".";
            add(b + "in_norm.weight", Decay.NONE, d);
            add(b + "in_proj.weight", Decay.BODY, c.inProjRows(), d);   // rows: [MLP | q | k | v]
            add(b + "mlp_bias", Decay.NONE, m);
            add(b + "q_norm.weight", Decay.NONE, hd);
            add(b + "k_norm.weight", Decay.NONE, hd);
            add(b + "out_proj.weight", Decay.BODY, d, c.outProjCols()); // cols: [attention | MLP]
            add(b + "out_proj.bias", Decay.NONE, d);
        }
        add("norm.weight", Decay.NONE, d);
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
