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
        Variant v = c.variant();
        for (int i = 0; i < blocks; i++) {
            String b = "blocks." + i + ".";
            if (v.parallel()) {
                norm(b + "in_norm", v.biases());
                add(b + "in_proj.weight", Decay.BODY, c.inProjRows(), d);   // rows: [MLP | q | k | v]
                if (v.biases()) add(b + "in_proj.bias", Decay.NONE, c.inProjRows());
                else add(b + "mlp_bias", Decay.NONE, m);
                if (v.qkNorm()) { norm(b + "q_norm", v.biases()); norm(b + "k_norm", v.biases()); }
                add(b + "out_proj.weight", Decay.BODY, d, c.outProjCols()); // cols: [attention | MLP]
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
