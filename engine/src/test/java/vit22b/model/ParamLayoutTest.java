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
