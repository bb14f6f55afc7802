package vit22b.model;

import java.util.Arrays;
import java.util.SplittableRandom;

import vit22b.backend.Backend;
import vit22b.tensor.Tensor;

/**
 * big_vision-style initialisation, deterministic for a seed: xavier-uniform per LOGICAL matrix
 * (the MLP input, q, k and v parts of the fused in-projection and the attention and MLP parts
 * of the fused out-projection each get their own bound), MLP biases normal(1e-6), position
 * embedding normal(1/sqrt(D)), lecun-normal patch convolution, xavier MAP-head kernels and
 * latent, zero classifier kernel with bias {@link ModelConfig#headBiasInit}, norm scales 1,
 * other biases 0. The variants' tensors ({@link Variant}) follow the same rules: each sequential
 * matrix is its own Linear, q, k, v and norm biases start at 0. Every tensor draws from its own stream split off the seed, in layout order.
 */
public final class Init {
    private Init() {}

    /** Fills {@code params} (flat, laid out by {@code layout}) on its backend. */
    public static void init(Backend backend, ParamLayout layout, Tensor params, long seed) {
        ModelConfig c = layout.config();
        int d = c.width(), m = c.mlp();
        SplittableRandom root = new SplittableRandom(seed);
        for (ParamLayout.Entry e : layout.entries()) {
            SplittableRandom r = root.split();
            String name = e.name();
            String leaf = name.startsWith("blocks.") ? name.substring(name.indexOf('.', 7) + 1) : name;
            float[] a = new float[Math.toIntExact(e.size())];
            switch (leaf) {
                case "patch_embed.proj.weight" -> lecunNormal(a, c.channels() * c.patch() * c.patch(), r);
                case "pos_embed" -> normal(a, 1 / Math.sqrt(d), r);
                case "in_norm.weight", "q_norm.weight", "k_norm.weight", "norm.weight", "attn_pool.norm.weight",
                     "norm1.weight", "norm2.weight", "attn.q_norm.weight", "attn.k_norm.weight" -> Arrays.fill(a, 1f);
                case "attn.qkv.weight" -> { for (int part = 0; part < 3; part++) xavier(a, part * d * d, d, d, r); }
                case "attn.proj.weight" -> xavier(a, 0, d, d, r);
                case "mlp.fc1.weight" -> xavier(a, 0, m, d, r);
                case "mlp.fc2.weight" -> xavier(a, 0, d, m, r);
                case "in_proj.bias" -> {   // [MLP | q | k | v]: the MLP part as mlp_bias, q, k, v zero
                    float[] mlp = new float[m];
                    normal(mlp, 1e-6, r);
                    System.arraycopy(mlp, 0, a, 0, m);
                }
                case "in_proj.weight" -> {
                    // rows [MLP (M) | q (D) | k (D) | v (D)], each row of length D
                    xavier(a, 0, m, d, r);
                    for (int part = 0; part < 3; part++) xavier(a, (m + part * d) * d, d, d, r);
                }
                case "out_proj.weight" -> {
                    // D rows of [attention (D) | MLP (M)]: two matrices interleaved by row
                    xavierColumns(a, d, d + m, 0, d, r);
                    xavierColumns(a, d, d + m, d, m, r);
                }
                case "mlp_bias", "mlp.fc1.bias", "mlp.fc2.bias", "attn_pool.mlp.fc1.bias", "attn_pool.mlp.fc2.bias" ->
                        normal(a, 1e-6, r);
                case "attn_pool.latent" -> xavier(a, 0, 1, d, r);   // flax: shape (1, 1, D), fans 1 and D
                case "attn_pool.q.weight", "attn_pool.proj.weight" -> xavier(a, 0, d, d, r);
                case "attn_pool.kv.weight" -> {
                    xavier(a, 0, d, d, r);        // k
                    xavier(a, d * d, d, d, r);    // v
                }
                case "attn_pool.mlp.fc1.weight" -> xavier(a, 0, m, d, r);
                case "attn_pool.mlp.fc2.weight" -> xavier(a, 0, d, m, r);
                case "head.weight" -> { }
                case "head.bias" -> Arrays.fill(a, c.headBiasInit());
                case "patch_embed.proj.bias", "out_proj.bias", "attn_pool.q.bias", "attn_pool.kv.bias",
                     "attn_pool.proj.bias", "attn_pool.norm.bias", "attn.qkv.bias", "attn.proj.bias", "in_norm.bias",
                     "q_norm.bias", "k_norm.bias", "norm.bias", "norm1.bias", "norm2.bias", "attn.q_norm.bias",
                     "attn.k_norm.bias" -> { }
                default -> throw new IllegalStateException("no initialiser for parameter " + name);
            }
            backend.upload(layout.view(params, name), a);
        }
    }

    /** Xavier-uniform bound sqrt(6 / (fan_in + fan_out)). */
    public static double xavierBound(int fanIn, int fanOut) {
        return Math.sqrt(6.0 / (fanIn + fanOut));
    }

    /** A Linear's (out rows x in cols) contiguous block at {@code offset}, uniform in +-xavierBound(cols, rows). */
    private static void xavier(float[] a, int offset, int rows, int cols, SplittableRandom r) {
        double bound = xavierBound(cols, rows);
        for (int i = 0; i < rows * cols; i++) a[offset + i] = (float) ((2 * r.nextDouble() - 1) * bound);
    }

    /** Columns [col, col + width) of a (rows x stride) matrix, one Linear (out rows, in = width). */
    private static void xavierColumns(float[] a, int rows, int stride, int col, int width, SplittableRandom r) {
        double bound = xavierBound(width, rows);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < width; j++) a[i * stride + col + j] = (float) ((2 * r.nextDouble() - 1) * bound);
    }

    private static void normal(float[] a, double std, SplittableRandom r) {
        for (int i = 0; i < a.length; i++) a[i] = (float) (gaussian(r) * std);
    }

    /** Truncated normal at +-2 std, rescaled so the std is sqrt(1 / fan_in) (jax's lecun_normal). */
    private static void lecunNormal(float[] a, int fanIn, SplittableRandom r) {
        double std = Math.sqrt(1.0 / fanIn) / 0.87962566103423978;
        for (int i = 0; i < a.length; i++) {
            double z;
            do z = gaussian(r); while (Math.abs(z) > 2);
            a[i] = (float) (z * std);
        }
    }

    private static double gaussian(SplittableRandom r) {
        double u = 1.0 - r.nextDouble(), v = r.nextDouble();
        return Math.sqrt(-2 * StrictMath.log(u)) * StrictMath.cos(2 * Math.PI * v);   // StrictMath: tier-independent bits
    }
}
