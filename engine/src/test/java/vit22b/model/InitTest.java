package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;

/** big_vision-style init: per-logical-matrix xavier bounds, zero head, determinism. */
class InitTest {
    // D 32, M 128: the MLP parts' bounds differ clearly from the attention parts'.
    private static final ModelConfig C = new ModelConfig("init", 32, 2, 128, 4, 4, 16, 3, 6,
            NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, -10f);

    private static float[] init(long seed) {
        ParamLayout l = new ParamLayout(C);
        try (CpuBackend be = new CpuBackend()) {
            Tensor p = be.allocate((int) l.total());
            Init.init(be, l, p, seed);
            float[] out = be.download(p);
            be.free(p);
            return out;
        }
    }

    private static float[] part(float[] p, ParamLayout l, String name, int rowFrom, int rows, int colFrom, int cols) {
        ParamLayout.Entry e = l.entry(name);
        int stride = e.shape()[e.shape().length - 1];
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) out[r * cols + j] = p[(int) e.offset() + (rowFrom + r) * stride + colFrom + j];
        return out;
    }

    /** All |w| within the bound and the largest close to it (so not a smaller bound either). */
    private static void assertXavier(String what, float[] w, int fanIn, int fanOut) {
        double bound = Init.xavierBound(fanIn, fanOut), max = 0;
        for (float x : w) max = Math.max(max, Math.abs(x));
        assertTrue(max <= bound, what + ": max |w| " + max + " exceeds xavier bound " + bound);
        assertTrue(max > 0.95 * bound, what + ": max |w| " + max + " far below xavier bound " + bound);
    }

    private static double std(float[] a) {
        double s = 0, s2 = 0;
        for (float x : a) { s += x; s2 += (double) x * x; }
        double mean = s / a.length;
        return Math.sqrt(s2 / a.length - mean * mean);
    }

    @Test void xavierPerLogicalMatrix() {
        ParamLayout l = new ParamLayout(C);
        float[] p = init(7);
        int d = 32, m = 128;
        for (int i = 0; i < 2; i++) {
            String in = "blocks." + i + ".in_proj.weight", out = "blocks." + i + ".out_proj.weight";
            assertXavier(in + " MLP", part(p, l, in, 0, m, 0, d), d, m);
            assertXavier(in + " q", part(p, l, in, m, d, 0, d), d, d);
            assertXavier(in + " k", part(p, l, in, m + d, d, 0, d), d, d);
            assertXavier(in + " v", part(p, l, in, m + 2 * d, d, 0, d), d, d);
            assertXavier(out + " attention", part(p, l, out, 0, d, 0, d), d, d);
            assertXavier(out + " MLP", part(p, l, out, 0, d, d, m), m, d);
        }
        assertXavier("kv k", part(p, l, "attn_pool.kv.weight", 0, d, 0, d), d, d);
        assertXavier("kv v", part(p, l, "attn_pool.kv.weight", d, d, 0, d), d, d);
        assertXavier("fc1", part(p, l, "attn_pool.mlp.fc1.weight", 0, m, 0, d), d, m);
        assertXavier("fc2", part(p, l, "attn_pool.mlp.fc2.weight", 0, d, 0, m), m, d);
    }

    @Test void headNormsBiasesAndEmbeddings() {
        ParamLayout l = new ParamLayout(C);
        float[] p = init(7);
        for (ParamLayout.Entry e : l.entries()) {
            float[] a = Arrays.copyOfRange(p, (int) e.offset(), (int) (e.offset() + e.size()));
            String n = e.name();
            if (n.equals("head.weight")) assertTrue(allEqual(a, 0f), n + " must start at zero");
            if (n.equals("head.bias")) assertTrue(allEqual(a, -10f), n + " must start at headBiasInit");
            if (n.endsWith("norm.weight")) assertTrue(allEqual(a, 1f), n + " must start at one");
            if (n.endsWith("out_proj.bias") || n.endsWith("norm.bias") || n.equals("patch_embed.proj.bias"))
                assertTrue(allEqual(a, 0f), n + " must start at zero");
            if (n.endsWith("mlp_bias") || n.endsWith("fc1.bias")) {
                assertFalse(allEqual(a, 0f), n + " is normal(1e-6), not zero");
                assertEquals(1e-6, std(a), 0.3e-6, n);
            }
        }
        assertEquals(1 / Math.sqrt(32), std(part(p, l, "pos_embed", 0, 1, 0, 16 * 32)), 0.1 / Math.sqrt(32), "pos_embed std");
        float[] conv = part(p, l, "patch_embed.proj.weight", 0, 1, 0, 32 * 3 * 4 * 4);
        assertEquals(Math.sqrt(1.0 / 48), std(conv), 0.1 * Math.sqrt(1.0 / 48), "lecun-normal std");
        for (float x : conv) assertTrue(Math.abs(x) <= 2 * Math.sqrt(1.0 / 48) / 0.8796 + 1e-6, "truncated at 2 std");
    }

    @Test void deterministicPerSeed() {
        float[] a = init(3), b = init(3), c = init(4);
        assertArrayEquals(a, b);
        assertFalse(Arrays.equals(a, c));
    }

    private static boolean allEqual(float[] a, float v) {
        for (float x : a) if (x != v) return false;
        return true;
    }
}
