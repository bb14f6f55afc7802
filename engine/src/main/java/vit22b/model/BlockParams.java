package vit22b.model;

import vit22b.tensor.Tensor;

/**
 * Named views of one block's tensors inside a flat buffer (parameters or their gradients),
 * in the shapes the backend ops take. Null where the model's {@link Variant} has no such tensor.
 * Parallel block: {@code wIn} is the fused in-projection [MLP | q | k | v] with bias {@code bIn}
 * (biases variant) or {@code bMlp} (MLP units only), {@code wOut} the fused out-projection.
 * Sequential block: {@code inNorm}, {@code wIn} = [q | k | v], {@code wOut} belong to the
 * attention half; {@code norm2}, {@code fc1}, {@code fc2} to the MLP half.
 */
public record BlockParams(Tensor inNorm, Tensor inNormB, Tensor wIn, Tensor bIn, Tensor bMlp,
                   Tensor qScale, Tensor qBias, Tensor kScale, Tensor kBias, Tensor wOut, Tensor bOut,
                   Tensor norm2, Tensor norm2B, Tensor wFc1, Tensor bFc1, Tensor wFc2, Tensor bFc2) {

    static BlockParams of(ParamLayout l, Tensor flat, int i) { return of(l, flat, "blocks." + i + "."); }

    /** The views of a {@link ParamLayout#blockShard} layout's one block. */
    public static BlockParams ofShard(ParamLayout shard, Tensor flat) { return of(shard, flat, ""); }

    private static BlockParams of(ParamLayout l, Tensor flat, String b) {
        if (l.config().variant().parallel())
            return new BlockParams(
                    l.view(flat, b + "in_norm.weight"), opt(l, flat, b + "in_norm.bias"),
                    l.view(flat, b + "in_proj.weight"), opt(l, flat, b + "in_proj.bias"), opt(l, flat, b + "mlp_bias"),
                    opt(l, flat, b + "q_norm.weight"), opt(l, flat, b + "q_norm.bias"),
                    opt(l, flat, b + "k_norm.weight"), opt(l, flat, b + "k_norm.bias"),
                    l.view(flat, b + "out_proj.weight"), l.view(flat, b + "out_proj.bias"),
                    null, null, null, null, null, null);
        return new BlockParams(
                l.view(flat, b + "norm1.weight"), opt(l, flat, b + "norm1.bias"),
                l.view(flat, b + "attn.qkv.weight"), opt(l, flat, b + "attn.qkv.bias"), null,
                opt(l, flat, b + "attn.q_norm.weight"), opt(l, flat, b + "attn.q_norm.bias"),
                opt(l, flat, b + "attn.k_norm.weight"), opt(l, flat, b + "attn.k_norm.bias"),
                l.view(flat, b + "attn.proj.weight"), l.view(flat, b + "attn.proj.bias"),
                l.view(flat, b + "norm2.weight"), opt(l, flat, b + "norm2.bias"),
                l.view(flat, b + "mlp.fc1.weight"), l.view(flat, b + "mlp.fc1.bias"),
                l.view(flat, b + "mlp.fc2.weight"), l.view(flat, b + "mlp.fc2.bias"));
    }

    private static Tensor opt(ParamLayout l, Tensor flat, String name) {
        return l.has(name) ? l.view(flat, name) : null;
    }
}
