package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ParamLayoutTest {
    @Test void vit22bBlockHasThePapersParameterCount() {
        ParamLayout l = new ParamLayout(Presets.get("vit-22b"));
        long block = 0;
        for (var e : l.entries()) if (e.name().startsWith("blocks.0.")) block += e.size();
        assertEquals(453_021_952L, block);
    }

    /**
     * A model shard's block layout: the block's names, order and groups, with the in-projection's
     * rows, the MLP bias and the out-projection's columns divided by k; shard j's flat holds, by
     * the independent index arithmetic below, rows m0 + j*ml.. of W_in's MLP part and q0 + j*dl..
     * of each of q, k, v, and W_out's columns j*dl.. and D + j*ml.. of every row; inserting every
     * shard back rebuilds the block.
     */
    @Test void aBlockShardIsTheModelAxisSliceOfTheBlock() {
        ModelConfig c = Presets.get("test-small").withDepth(2);
        ParamLayout full = new ParamLayout(c);
        float[] flat = new float[(int) full.total()];
        for (int i = 0; i < flat.length; i++) flat[i] = i;   // every float tells where it came from
        int d = c.width(), m = c.mlp();
        for (int k : new int[]{1, 2, 4}) {
            ParamLayout s = ParamLayout.blockShard(c, k);
            int ml = m / k, dl = d / k;
            var names = s.entries().stream().map(ParamLayout.Entry::name).toList();
            assertEquals(full.entries().stream().filter(e -> e.name().startsWith("blocks.1."))
                    .map(e -> e.name().substring("blocks.1.".length())).toList(), names);
            assertEquals(java.util.List.of(c.inProjRows() / k, d), java.util.Arrays.stream(s.entry("in_proj.weight").shape()).boxed().toList());
            assertEquals(java.util.List.of(d, c.outProjCols() / k), java.util.Arrays.stream(s.entry("out_proj.weight").shape()).boxed().toList());
            assertTrue(s.whole("q_norm.weight") && s.whole("out_proj.bias") && !s.whole("mlp_bias"));
            float[] rebuilt = new float[flat.length];
            for (int j = 0; j < k; j++) {
                float[] sh = s.extractShard(flat, 1, j);
                long win = full.entry("blocks.1.in_proj.weight").offset(), wout = full.entry("blocks.1.out_proj.weight").offset();
                long sIn = s.entry("in_proj.weight").offset(), sOut = s.entry("out_proj.weight").offset();
                int[] firstRow = {j * ml, m + j * dl, m + d + j * dl, m + 2 * d + j * dl}, rows = {ml, dl, dl, dl};
                int at = 0;
                for (int part = 0; part < 4; part++)
                    for (int r = 0; r < rows[part]; r++, at++)
                        for (int col = 0; col < d; col++)
                            assertEquals(win + (long) (firstRow[part] + r) * d + col, (long) sh[(int) (sIn + (long) at * d + col)]);
                for (int row = 0; row < d; row++)
                    for (int col = 0; col < dl + ml; col++) {
                        int src = col < dl ? j * dl + col : d + j * ml + (col - dl);
                        assertEquals(wout + (long) row * c.outProjCols() + src, (long) sh[(int) (sOut + (long) row * (dl + ml) + col)]);
                    }
                assertEquals(full.entry("blocks.1.q_norm.weight").offset(), (long) sh[(int) s.entry("q_norm.weight").offset()]);
                s.insertShard(sh, rebuilt, 1, j);
            }
            for (var e : full.entries())
                if (e.name().startsWith("blocks.1."))
                    for (long i = e.offset(); i < e.offset() + e.size(); i++) assertEquals(flat[(int) i], rebuilt[(int) i], e.name());
        }
    }

    /** The layout outside the blocks: the full layout's other entries, same order, shapes and groups, packed. */
    @Test void withoutBlocksKeepsEveryOtherEntryInOrder() {
        ModelConfig c = Presets.get("test-small");
        ParamLayout full = new ParamLayout(c), rest = ParamLayout.withoutBlocks(c);
        var others = full.entries().stream().filter(e -> !e.name().startsWith("blocks.")).toList();
        assertEquals(others.size(), rest.entries().size());
        long offset = 0;
        for (int i = 0; i < others.size(); i++) {
            var a = others.get(i);
            var b = rest.entries().get(i);
            assertEquals(a.name(), b.name());
            assertEquals(java.util.Arrays.toString(a.shape()), java.util.Arrays.toString(b.shape()));
            assertEquals(a.decay(), b.decay());
            assertEquals(offset, b.offset(), b.name());
            offset += b.size();
        }
        assertEquals(offset, rest.total());
        assertEquals(full.total() - 2 * full.entries().stream().filter(e -> e.name().startsWith("blocks.0."))
                .mapToLong(ParamLayout.Entry::size).sum(), rest.total());
    }

    /**
     * Block 0's names and shapes for each variant, written out from timm's modules
     * (ParallelScalingBlock with qkv_bias / qk_norm; Block with qkv_bias / qk_norm; LayerNorm
     * with bias when the variant has biases).
     */
    @Test void variantNamesAreTimms() {
        ModelConfig c = Presets.get("test-small");   // D 32, MLP 64, 4 heads of 8
        assertEquals("in_norm.weight 32|in_norm.bias 32|in_proj.weight 160x32|in_proj.bias 160|q_norm.weight 8|q_norm.bias 8|"
                + "k_norm.weight 8|k_norm.bias 8|out_proj.weight 32x96|out_proj.bias 32", block0(c.withVariant(Variant.PAPER.withBiases(true))));
        assertEquals("in_norm.weight 32|in_proj.weight 160x32|mlp_bias 64|out_proj.weight 32x96|out_proj.bias 32",
                block0(c.withVariant(Variant.PAPER.withQkNorm(false))));
        assertEquals("norm1.weight 32|attn.qkv.weight 96x32|attn.q_norm.weight 8|attn.k_norm.weight 8|attn.proj.weight 32x32|"
                + "attn.proj.bias 32|norm2.weight 32|mlp.fc1.weight 64x32|mlp.fc1.bias 64|mlp.fc2.weight 32x64|mlp.fc2.bias 32",
                block0(c.withVariant(Variant.PAPER.withParallel(false))));
        assertEquals("norm1.weight 32|norm1.bias 32|attn.qkv.weight 96x32|attn.qkv.bias 96|attn.proj.weight 32x32|attn.proj.bias 32|"
                + "norm2.weight 32|norm2.bias 32|mlp.fc1.weight 64x32|mlp.fc1.bias 64|mlp.fc2.weight 32x64|mlp.fc2.bias 32",
                block0(c.withVariant(new Variant(false, false, true))));
        assertTrue(new ParamLayout(c.withVariant(Variant.PAPER.withBiases(true))).has("norm.bias"));
        assertTrue(!new ParamLayout(c).has("norm.bias"));
    }

    private static String block0(ModelConfig c) {
        StringBuilder s = new StringBuilder();
        for (var e : new ParamLayout(c).entries()) {
            if (!e.name().startsWith("blocks.0.")) continue;
            if (!s.isEmpty()) s.append('|');
            s.append(e.name().substring(9)).append(' ');
            s.append(String.join("x", java.util.Arrays.stream(e.shape()).mapToObj(String::valueOf).toList()));
        }
        return s.toString();
    }

    @Test void headsThatDoNotDivideTheWidthAreRefused() {
        var ex = assertThrows(IllegalArgumentException.class, () -> new ModelConfig("bad", 100, 2, 400, 3, 4, 8, 3, 5,
                NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, 0f));
        assertEquals(true, ex.getMessage().contains("3 heads do not divide width 100"), ex.getMessage());
    }

    @Test void patchThatDoesNotDivideTheImageIsRefused() {
        var ex = assertThrows(IllegalArgumentException.class, () -> Presets.get("test-tiny").withPatch(3));
        assertEquals(true, ex.getMessage().contains("patch 3 does not divide image size 8"), ex.getMessage());
    }
}
