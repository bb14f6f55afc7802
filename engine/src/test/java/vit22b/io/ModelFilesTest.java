package vit22b.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.io.ModelFiles.Flags;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;
import vit22b.model.Variant;
import vit22b.model.Presets;
import vit22b.testing.Check;

class ModelFilesTest {
    @TempDir Path dir;

    @Test void configJsonRoundTrip() {
        ModelConfig c = Presets.get("test-small").withGelu(GeluKind.EXACT).withNorm(NormKind.LAYER)
                .withLoss(LossKind.SOFTMAX).withHeadBiasInit(-10f);
        assertEquals(c, ConfigJson.fromJson(ConfigJson.toJson(c)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ConfigJson.fromJson(ConfigJson.toJson(c).replace("\"heads\":4,", "")));
        assertTrue(e.getMessage().contains("'heads'"), e.getMessage());
    }

    @Test void saveAndLoadOurFile() throws IOException {
        ModelConfig c = Presets.get("test-tiny").withGelu(GeluKind.EXACT);
        ParamLayout layout = new ParamLayout(c);
        float[] flat = Check.randn(7, (int) layout.total(), 1);
        Path f = dir.resolve("ours.safetensors");
        ModelFiles.save(f, layout, flat, Map.of("step", "12"));
        try (ModelFiles.Loaded m = ModelFiles.load(f, Flags.NONE)) {
            assertFalse(m.timm());
            assertEquals(c, m.config());
            assertEquals("12", m.metadata().get("step"));
            assertArrayEquals(flat, m.params().segment().toArray(ValueLayout.JAVA_FLOAT));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelFiles.load(f, new Flags(GeluKind.TANH, null, null)));
        assertTrue(e.getMessage().contains("records gelu exact but tanh"), e.getMessage());
    }

    @Test void nonFiniteWeightsAreRefusedUnlessAllowed(@TempDir Path dir) throws IOException {
        ParamLayout layout = new ParamLayout(Presets.get("test-tiny"));
        float[] flat = Check.randn(8, (int) layout.total(), 1);
        ParamLayout.Entry victim = layout.entries().get(layout.entries().size() / 2);
        flat[(int) victim.offset() + 3] = Float.NaN;
        Path f = dir.resolve("nan.safetensors");
        ModelFiles.save(f, layout, flat, Map.of());
        IOException e = assertThrows(IOException.class, () -> ModelFiles.load(f, Flags.NONE));
        assertTrue(e.getMessage().contains("'" + victim.name() + "' holds NaN at element 3") && e.getMessage().contains("--allow-nonfinite"),
                e.getMessage());
        try (ModelFiles.Loaded m = ModelFiles.load(f, new Flags(null, null, null, true))) {
            assertTrue(Float.isNaN(m.params().segment().getAtIndex(ValueLayout.JAVA_FLOAT, victim.offset() + 3)));
        }
    }

    /** A variant's flags travel in the checkpoint; a config written before variants existed reads as the paper's block. */
    @Test void variantsAreRecordedAndOldFilesReadAsThePapersBlock() throws IOException {
        for (Variant v : new Variant[] {Variant.PAPER.withQkNorm(false), Variant.PAPER.withParallel(false).withBiases(true),
                new Variant(false, false, true)}) {
            ModelConfig c = Presets.get("test-tiny").withVariant(v);
            assertEquals(c, ConfigJson.fromJson(ConfigJson.toJson(c)));
            ParamLayout layout = new ParamLayout(c);
            float[] flat = Check.randn(8, (int) layout.total(), 1);
            Path f = dir.resolve("variant.safetensors");
            ModelFiles.save(f, layout, flat, Map.of());
            try (ModelFiles.Loaded m = ModelFiles.load(f, Flags.NONE)) {
                assertEquals(v, m.config().variant());
                assertArrayEquals(flat, m.params().segment().toArray(ValueLayout.JAVA_FLOAT));
            }
        }
        ModelConfig c = Presets.get("test-small");
        String old = ConfigJson.toJson(c).replaceAll(",\\s*\"(qk_norm|parallel|biases)\":\\s*(true|false)", "");
        assertFalse(old.contains("qk_norm") || old.contains("parallel") || old.contains("biases"), old);
        assertEquals(c, ConfigJson.fromJson(old));
        var e = assertThrows(IllegalArgumentException.class,
                () -> ConfigJson.fromJson(ConfigJson.toJson(c).replace("\"biases\":false", "\"biases\":\"no\"")));
        assertTrue(e.getMessage().contains("'biases' must be true or false"), e.getMessage());
    }

    /** timm's model_args follow the variant; norm biases cannot go into timm's RmsNorm and are refused. */
    @Test void timmExportFollowsTheVariant() {
        var c = Presets.get("test-small").withNorm(NormKind.LAYER).withVariant(new Variant(false, false, true));
        var o = TimmExport.config(c, null);
        assertFalse(o.get("model_args").get("qk_norm").asBoolean());
        assertTrue(o.get("model_args").get("qkv_bias").asBoolean());
        assertTrue(o.get("vit22b").get("block_fn").asText().startsWith("timm.models.vision_transformer.Block"), o.toString());
        var paper = TimmExport.config(Presets.get("test-small"), null);
        assertTrue(paper.get("model_args").get("qk_norm").asBoolean() && !paper.get("model_args").get("qkv_bias").asBoolean());
        var rms = Presets.get("test-small").withVariant(Variant.PAPER.withBiases(true));
        var e = assertThrows(IllegalArgumentException.class,
                () -> TimmExport.write(dir.resolve("x"), rms, new float[(int) new ParamLayout(rms).total()], null));
        assertTrue(e.getMessage().contains("RmsNorm"), e.getMessage());
    }

    /** The tensors of {@code c}'s layout, random, as a timm-layout file would hold them. */
    private static Map<String, TensorData> timmTensors(ModelConfig c) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        long seed = 100;
        for (ParamLayout.Entry e : new ParamLayout(c).entries())
            t.put(e.name(), TensorData.of(Check.randn(seed++, (int) e.size(), 1), e.shape()));
        return t;
    }

    /** A timm file's block variant comes from its tensor names; without q_norm the head count cannot. */
    @Test void timmFileVariantComesFromTheNames() throws IOException {
        for (Variant v : new Variant[] {Variant.PAPER.withBiases(true), Variant.PAPER.withParallel(false),
                Variant.PAPER.withParallel(false).withBiases(true)}) {
            ModelConfig c = Presets.get("test-small").withVariant(v);
            Path f = dir.resolve("timm-variant.safetensors");
            SafeTensors.write(f, timmTensors(c), Map.of());
            try (ModelFiles.Loaded m = ModelFiles.load(f, Flags.NONE)) {
                assertEquals(v, m.config().variant());
                assertEquals(c.mlp(), m.config().mlp());
                assertEquals(c.heads(), m.config().heads());
            }
        }
        Path f = dir.resolve("timm-no-qk.safetensors");
        SafeTensors.write(f, timmTensors(Presets.get("test-small").withVariant(Variant.PAPER.withQkNorm(false))), Map.of());
        var e = assertThrows(IOException.class, () -> ModelFiles.load(f, Flags.NONE));
        assertTrue(e.getMessage().contains("head count is not in the tensor shapes"), e.getMessage());
    }

    @Test void timmFileSizesComeFromShapesAndFlags() throws IOException {
        ModelConfig c = Presets.get("test-small").withImage(24, 1).withPatch(6);
        Path f = dir.resolve("timm-model.safetensors");
        Map<String, TensorData> t = timmTensors(c);
        SafeTensors.write(f, t, Map.of());
        try (ModelFiles.Loaded m = ModelFiles.load(f, new Flags(GeluKind.EXACT, NormKind.LAYER, LossKind.SOFTMAX))) {
            assertTrue(m.timm());
            ModelConfig want = new ModelConfig("timm-model", c.width(), c.depth(), c.mlp(), c.heads(), 6, 24, 1,
                    c.classes(), NormKind.LAYER, GeluKind.EXACT, LossKind.SOFTMAX, 0f);
            assertEquals(want, m.config());
            var e = m.layout().entry("blocks.1.in_proj.weight");
            assertArrayEquals(t.get(e.name()).data().toArray(ValueLayout.JAVA_FLOAT),
                    m.params().segment().asSlice(e.offset() * 4, e.size() * 4).toArray(ValueLayout.JAVA_FLOAT));
        }
        // Without a classifier: classes 0; defaults tanh, RMS, sigmoid.
        t.remove("head.weight");
        t.remove("head.bias");
        SafeTensors.write(f, t, Map.of());
        try (ModelFiles.Loaded m = ModelFiles.load(f, Flags.NONE)) {
            assertEquals(0, m.config().classes());
            assertEquals(GeluKind.TANH, m.config().gelu());
            assertEquals(NormKind.RMS, m.config().norm());
            assertEquals(LossKind.SIGMOID, m.config().loss());
        }
    }

    private IOException refusedTimm(Map<String, TensorData> t, String... fragments) throws IOException {
        Path f = dir.resolve("bad.safetensors");
        SafeTensors.write(f, t, Map.of());
        IOException e = assertThrows(IOException.class, () -> ModelFiles.load(f, Flags.NONE).close());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
        return e;
    }

    @Test void headsThatDoNotDivideTheWidthAreRefused() throws IOException {
        Map<String, TensorData> t = timmTensors(Presets.get("test-tiny"));   // D 16
        for (int i = 0; i < 2; i++) t.put("blocks." + i + ".q_norm.weight", TensorData.of(Check.randn(i, 5, 1), 5));
        refusedTimm(t, "q_norm.weight has 5 elements", "does not divide the width 16");
    }

    @Test void missingExtraAndMisshapedTensorsAreRefused() throws IOException {
        ModelConfig c = Presets.get("test-tiny");
        Map<String, TensorData> t = timmTensors(c);
        t.remove("blocks.1.out_proj.bias");
        refusedTimm(t, "tensor 'blocks.1.out_proj.bias' (shape [16]) is missing");

        t = timmTensors(c);
        t.put("blocks.1.extra", TensorData.of(Check.randn(1, 3, 1), 3));
        refusedTimm(t, "unexpected tensor 'blocks.1.extra' (shape [3])");

        t = timmTensors(c);
        t.put("blocks.1.in_proj.weight", TensorData.of(Check.randn(2, 80 * 15, 1), 80, 15));
        refusedTimm(t, "tensor 'blocks.1.in_proj.weight' has shape [80, 15], expected [80, 16]");

        t = timmTensors(c);
        t.put("pos_embed", TensorData.of(Check.randn(3, 8 * 16, 1), 1, 8, 16));
        refusedTimm(t, "8 tokens, not a square grid");

        t = timmTensors(c);
        t.remove("patch_embed.proj.weight");
        refusedTimm(t, "tensor 'patch_embed.proj.weight' is missing");
    }
}
