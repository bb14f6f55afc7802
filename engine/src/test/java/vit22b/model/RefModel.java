package vit22b.model;

/**
 * An independent float64 implementation of the whole model for tests: plain arrays and
 * straightforward loops, written from DESIGN.md's semantics and sharing no code with the
 * backends. Parameters are a flat double array in {@link ParamLayout}'s layout; activations
 * are token-major (rows of width D, head h at columns [h*hd, (h+1)*hd)). The parallel block
 * is computed sequentially: attention and MLP with their own slices of the fused matrices.
 * The block variants ({@link Variant}) follow their definitions: the sequential block as the
 * original ViT's, QK-norm only where its tensors exist, biases wherever the layout has them.
 */
final class RefModel {
    final ModelConfig c;
    final ParamLayout layout;
    private final int d, m, h, hd, n;

    RefModel(ModelConfig c) {
        this.c = c;
        this.layout = new ParamLayout(c);
        d = c.width();
        m = c.mlp();
        h = c.heads();
        hd = c.headDim();
        n = c.tokens();
    }

    private int off(String name) { return (int) layout.entry(name).offset(); }

    /** Offset of a bias the biases variant adds, -1 (none) without it. */
    private int opt(String name) { return c.variant().biases() ? off(name) : -1; }

    /** Logits (B * classes) of images (B, C, S, S). */
    double[] logits(double[] p, double[] images, int batch) {
        double[] f = features(p, images, batch);
        return linear(f, batch, d, p, off("head.weight"), d, c.classes(), off("head.bias"));
    }

    /** Mean loss of the batch against targets (B * classes). */
    double loss(double[] p, double[] images, double[] targets, int batch) {
        double[] z = logits(p, images, batch);
        int k = c.classes();
        double total = 0;
        for (int b = 0; b < batch; b++) {
            if (c.loss() == LossKind.SIGMOID) {
                for (int j = 0; j < k; j++) {
                    double x = z[b * k + j], t = targets[b * k + j];
                    // -t log sigmoid(x) - (1-t) log(1 - sigmoid(x))
                    total += t * Math.log1p(Math.exp(-x)) + (1 - t) * Math.log1p(Math.exp(x));
                }
            } else {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < k; j++) max = Math.max(max, z[b * k + j]);
                double s = 0;
                for (int j = 0; j < k; j++) s += Math.exp(z[b * k + j] - max);
                double logZ = max + Math.log(s);
                for (int j = 0; j < k; j++) total -= targets[b * k + j] * (z[b * k + j] - logZ);
            }
        }
        return total / batch;
    }

    /** The MAP head's pooled output (B * D). */
    double[] features(double[] p, double[] images, int batch) {
        double[] x = embed(p, images, batch);
        for (int i = 0; i < c.depth(); i++) x = block(p, i, x, batch);
        double[] xf = norm(x, batch * n, d, p, off("norm.weight"), opt("norm.bias"), centered());
        return mapHead(p, xf, batch);
    }

    double[] embed(double[] p, double[] img, int batch) {
        int ch = c.channels(), ps = c.patch(), s = c.imageSize(), grid = c.grid();
        int w = off("patch_embed.proj.weight"), bias = off("patch_embed.proj.bias"), pos = off("pos_embed");
        double[] x = new double[batch * n * d];
        for (int b = 0; b < batch; b++)
            for (int gy = 0; gy < grid; gy++)
                for (int gx = 0; gx < grid; gx++) {
                    int tok = gy * grid + gx;
                    for (int o = 0; o < d; o++) {
                        double acc = p[bias + o] + p[pos + tok * d + o];
                        for (int ci = 0; ci < ch; ci++)
                            for (int py = 0; py < ps; py++)
                                for (int px = 0; px < ps; px++)
                                    acc += p[w + ((o * ch + ci) * ps + py) * ps + px]
                                            * img[((b * ch + ci) * s + gy * ps + py) * s + gx * ps + px];
                        x[(b * n + tok) * d + o] = acc;
                    }
                }
        return x;
    }

    /** Block i of the model's variant. */
    double[] block(double[] p, int i, double[] x, int batch) {
        return c.variant().parallel() ? parallelBlock(p, i, x, batch) : sequentialBlock(p, i, x, batch);
    }

    /** Parallel block i, sequentially: x + Attention(Norm(x)) + MLP(Norm(x)). */
    private double[] parallelBlock(double[] p, int i, double[] x, int batch) {
        String pre = "blocks." + i + ".";
        int rows = batch * n, in = off(pre + "in_proj.weight"), out = off(pre + "out_proj.weight");
        // biases variant: one bias over the in-projection's rows [MLP | q | k | v]; else the MLP's only
        int inBias = opt(pre + "in_proj.bias");
        int mlpBias = inBias >= 0 ? inBias : off(pre + "mlp_bias");
        double[] y = norm(x, rows, d, p, off(pre + "in_norm.weight"), opt(pre + "in_norm.bias"), centered());
        // MLP: rows [0, M) of the in-projection, columns [D, D+M) of the out-projection
        double[] g = gelu(linear(y, rows, d, p, in, d, m, mlpBias));
        double[] mlpOut = linear(g, rows, m, p, out + d, d + m, d, -1);
        // attention: q, k, v rows of the in-projection, columns [0, D) out
        double[] a = attention(p, pre, y, rows, batch, in + m * d, inBias < 0 ? -1 : inBias + m);
        double[] attOut = linear(a, rows, d, p, out, d + m, d, off(pre + "out_proj.bias"));
        double[] r = new double[rows * d];
        for (int j = 0; j < r.length; j++) r[j] = x[j] + attOut[j] + mlpOut[j];
        return r;
    }

    /** Sequential block i (the original ViT's): x1 = x + Attention(Norm1(x)); x1 + MLP(Norm2(x1)). */
    private double[] sequentialBlock(double[] p, int i, double[] x, int batch) {
        String pre = "blocks." + i + ".";
        int rows = batch * n;
        double[] y = norm(x, rows, d, p, off(pre + "norm1.weight"), opt(pre + "norm1.bias"), centered());
        double[] a = attention(p, pre + "attn.", y, rows, batch, off(pre + "attn.qkv.weight"), opt(pre + "attn.qkv.bias"));
        double[] proj = linear(a, rows, d, p, off(pre + "attn.proj.weight"), d, d, off(pre + "attn.proj.bias"));
        double[] x1 = new double[rows * d];
        for (int j = 0; j < x1.length; j++) x1[j] = x[j] + proj[j];
        double[] y2 = norm(x1, rows, d, p, off(pre + "norm2.weight"), opt(pre + "norm2.bias"), centered());
        double[] g = gelu(linear(y2, rows, d, p, off(pre + "mlp.fc1.weight"), d, m, off(pre + "mlp.fc1.bias")));
        double[] f = linear(g, rows, m, p, off(pre + "mlp.fc2.weight"), m, d, off(pre + "mlp.fc2.bias"));
        double[] r = new double[rows * d];
        for (int j = 0; j < r.length; j++) r[j] = x1[j] + f[j];
        return r;
    }

    /**
     * Self-attention of y: q, k, v from the three D x D matrices at {@code qkv} (rows q, k, v)
     * with biases at {@code bias} (< 0: none), QK-norm per head when the model has it
     * (scales {@code names + "q_norm.weight"}, ...), softmax attention.
     */
    private double[] attention(double[] p, String names, double[] y, int rows, int batch, int qkv, int bias) {
        double[] q = linear(y, rows, d, p, qkv, d, d, bias);
        double[] k = linear(y, rows, d, p, qkv + d * d, d, d, bias < 0 ? -1 : bias + d);
        double[] v = linear(y, rows, d, p, qkv + 2 * d * d, d, d, bias < 0 ? -1 : bias + 2 * d);
        if (c.variant().qkNorm()) {
            q = norm(q, rows * h, hd, p, off(names + "q_norm.weight"), opt(names + "q_norm.bias"), centered());
            k = norm(k, rows * h, hd, p, off(names + "k_norm.weight"), opt(names + "k_norm.bias"), centered());
        }
        return attention(q, k, v, batch, n, n);
    }

    private boolean centered() { return c.norm() == NormKind.LAYER; }

    double[] mapHead(double[] p, double[] xf, int batch) {
        String a = "attn_pool.";
        double[] lat = new double[batch * d];
        for (int b = 0; b < batch; b++) System.arraycopy(p, off(a + "latent"), lat, b * d, d);
        double[] q = linear(lat, batch, d, p, off(a + "q.weight"), d, d, off(a + "q.bias"));
        int kvw = off(a + "kv.weight"), kvb = off(a + "kv.bias");
        double[] k = linear(xf, batch * n, d, p, kvw, d, d, kvb);
        double[] v = linear(xf, batch * n, d, p, kvw + d * d, d, d, kvb + d);
        double[] att = attention(q, k, v, batch, 1, n);
        double[] pr = linear(att, batch, d, p, off(a + "proj.weight"), d, d, off(a + "proj.bias"));
        double[] z = norm(pr, batch, d, p, off(a + "norm.weight"), off(a + "norm.bias"), true);
        double[] g = gelu(linear(z, batch, d, p, off(a + "mlp.fc1.weight"), d, m, off(a + "mlp.fc1.bias")));
        double[] f = linear(g, batch, m, p, off(a + "mlp.fc2.weight"), m, d, off(a + "mlp.fc2.bias"));
        for (int j = 0; j < f.length; j++) f[j] += pr[j];
        return f;
    }

    /** out (R, N) = in (R, K) @ W^T + bias, W[o][j] = p[w + o * stride + j]; bias < 0: none. */
    static double[] linear(double[] in, int rows, int k, double[] p, int w, int stride, int nOut, int bias) {
        double[] out = new double[rows * nOut];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < nOut; o++) {
                double acc = bias < 0 ? 0 : p[bias + o];
                for (int j = 0; j < k; j++) acc += in[r * k + j] * p[w + o * stride + j];
                out[r * nOut + o] = acc;
            }
        return out;
    }

    /** Row-wise norm of x (R, W), eps 1e-6, scale p[scale..], bias p[bias..] (bias < 0: none). */
    static double[] norm(double[] x, int rows, int w, double[] p, int scale, int bias, boolean centered) {
        double[] out = new double[rows * w];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            if (centered) {
                for (int j = 0; j < w; j++) mean += x[r * w + j];
                mean /= w;
            }
            double var = 0;
            for (int j = 0; j < w; j++) var += (x[r * w + j] - mean) * (x[r * w + j] - mean);
            double rstd = 1 / Math.sqrt(var / w + ModelConfig.EPS);
            for (int j = 0; j < w; j++)
                out[r * w + j] = (x[r * w + j] - mean) * rstd * p[scale + j] + (bias < 0 ? 0 : p[bias + j]);
        }
        return out;
    }

    /** Softmax attention per head; q (B*nq, D), k and v (B*nk, D), token-major. */
    double[] attention(double[] q, double[] k, double[] v, int batch, int nq, int nk) {
        double[] out = new double[batch * nq * d];
        double[] s = new double[nk];
        double scale = 1 / Math.sqrt(hd);
        for (int b = 0; b < batch; b++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < nq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < nk; j++) {
                        double dot = 0;
                        for (int e = 0; e < hd; e++)
                            dot += q[(b * nq + i) * d + hh * hd + e] * k[(b * nk + j) * d + hh * hd + e];
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < nk; j++) z += s[j] = Math.exp(s[j] - max);
                    for (int e = 0; e < hd; e++) {
                        double acc = 0;
                        for (int j = 0; j < nk; j++) acc += s[j] / z * v[(b * nk + j) * d + hh * hd + e];
                        out[(b * nq + i) * d + hh * hd + e] = acc;
                    }
                }
        return out;
    }

    double[] gelu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double t = x[i];
            y[i] = c.gelu() == GeluKind.TANH
                    ? 0.5 * t * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (t + 0.044715 * t * t * t)))
                    : 0.5 * t * (1 + erf(t / Math.sqrt(2)));
        }
        return y;
    }

    /** erf to ~1e-13: Taylor series for |x| < 3, Lentz's continued fraction of erfc beyond. */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax < 3) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int k = 1; k < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); k++) {
                term *= -x2 / k;
                sum += term / (2 * k + 1);
            }
            return Math.copySign(2 / Math.sqrt(Math.PI) * sum, x);
        }
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        double tiny = 1e-300, f = ax, cc = ax, dd = 0;
        for (int k = 1; k < 300; k++) {
            double an = k / 2.0;
            dd = ax + an * dd;
            dd = dd == 0 ? tiny : 1 / dd;
            cc = ax + an / cc;
            if (cc == 0) cc = tiny;
            double delta = cc * dd;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) break;
        }
        double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        return Math.copySign(1 - erfc, x);
    }
}
