package vit22b.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.model.ModelConfig;
import vit22b.model.ModelFixtures;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;
import vit22b.train.Weights;

/**
 * Streaming a model file into an inference-only model: the same weights as the existing loader
 * (which reads the whole model into Java memory), through staging far smaller than a tensor so
 * pieces and tails are crossed; F32 and BF16 files; bad files refused in one line and left as they were.
 */
class StreamedWeightsTest {
    @TempDir Path dir;

    /** A small staging array: test-small's tensors are split into many pieces with tails. */
    private static final int STAGING = 1000;

    private static Path saveRandom(Path file, ModelConfig c, long seed) throws IOException {
        ParamLayout layout = new ParamLayout(c);
        ModelFiles.save(file, layout, ModelFixtures.randomParams(layout, seed), Map.of());
        return file;
    }

    private static float[][] logitsAndFeatures(ViT m, long seed) {
        Backend be = m.backend();
        ModelConfig c = m.config();
        Tensor x = be.allocate(2, c.channels(), c.imageSize(), c.imageSize());
        try {
            be.upload(x, ModelFixtures.images(c, 2, seed));
            float[] logits = be.download(m.forward(x));
            return new float[][] {logits, be.download(m.features(x))};
        } finally {
            be.free(x);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "bf16"})
    void streamedModelEqualsTheExistingLoader(String precision) throws IOException {
        long seed = System.nanoTime();
        System.out.println("seed " + seed + ", " + precision);
        ModelConfig c = Presets.get("test-small");
        Path f = saveRandom(dir.resolve("m.safetensors"), c, seed);
        CpuBackend cpu = new CpuBackend();
        try (Backend be = precision.equals("bf16") ? new Bf16Rounding(cpu) : cpu;
             ViT want = Weights.load(f, be);
             StreamedWeights.Source src = StreamedWeights.open(f, ModelFiles.Flags.NONE);
             ViT got = src.load(be, null, STAGING)) {
            assertEquals(c, src.config());
            assertTrue(got.inferenceOnly());
            float[][] w = logitsAndFeatures(want, seed + 1), g = logitsAndFeatures(got, seed + 1);
            assertArrayEquals(w[0], g[0], "logits");
            assertArrayEquals(w[1], g[1], "features");
        }
    }

    @Test void bf16FileLoadsItsValuesExactly() throws IOException {
        long seed = System.nanoTime();
        System.out.println("seed " + seed);
        ModelConfig c = Presets.get("test-small");
        ParamLayout layout = new ParamLayout(c);
        float[] flat = ModelFixtures.randomParams(layout, seed);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : layout.entries()) {
            short[] bits = new short[(int) e.size()];
            for (int i = 0; i < bits.length; i++) bits[i] = Bf16.fromFloat(flat[(int) e.offset() + i]);
            tensors.put(e.name(), TensorData.bf16(bits, e.shape()));
        }
        Path f = dir.resolve("bf16.safetensors");
        SafeTensors.write(f, tensors, Map.of(ModelFiles.CONFIG_KEY, ConfigJson.toJson(c)));
        float[] ref = Weights.read(f).params();   // the existing loader's widening
        try (CpuBackend be = new CpuBackend(); StreamedWeights.Source src = StreamedWeights.open(f, ModelFiles.Flags.NONE);
             ViT got = src.load(be, null, STAGING)) {
            for (ParamLayout.Entry e : layout.entries()) {
                float[] v = be.download(got.weight(e.name()));
                float[] want = Arrays.copyOfRange(ref, (int) e.offset(), (int) (e.offset() + e.size()));
                assertArrayEquals(want, v, e.name());
                for (int i = 0; i < v.length; i++) assertEquals(Bf16.round(flat[(int) e.offset() + i]), v[i], 0f, e.name());
            }
        }
    }

    /** Opening and loading {@code f} fails in one line containing {@code words}, and the file's bytes stay as they were. */
    private static void refused(Path f, String... words) throws IOException {
        byte[] before = Files.readAllBytes(f);
        Exception e = assertThrows(Exception.class, () -> {
            try (CpuBackend be = new CpuBackend(); StreamedWeights.Source src = StreamedWeights.open(f, ModelFiles.Flags.NONE);
                 ViT m = src.load(be, null, STAGING)) {
                m.config();
            }
        });
        System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
        assertTrue(e instanceof IOException || e instanceof IllegalArgumentException, e.toString());
        assertFalse(e.getMessage().contains("\n"), "one line");
        for (String w : words) assertTrue(e.getMessage().contains(w), "'" + w + "' in: " + e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(f), "the file is left as it was");
    }

    @Test void truncatedFileIsRefused() throws IOException {
        Path f = saveRandom(dir.resolve("cut.safetensors"), Presets.get("test-tiny"), 11);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 100);
        }
        refused(f, f.toString());
    }

    @Test void corruptHeaderIsRefused() throws IOException {
        Path f = saveRandom(dir.resolve("bad.safetensors"), Presets.get("test-tiny"), 12);
        byte[] b = Files.readAllBytes(f);
        for (int i = 8; i < 24; i++) b[i] = (byte) '#';
        Files.write(f, b);
        refused(f, f.toString());
    }

    @Test void fileNotMatchingItsModelIsRefused() throws IOException {
        // test-tiny's tensors under test-small's config: shapes disagree
        ParamLayout tiny = new ParamLayout(Presets.get("test-tiny"));
        float[] flat = Check.randn(13, (int) tiny.total(), 1);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : tiny.entries())
            tensors.put(e.name(), TensorData.of(Arrays.copyOfRange(flat, (int) e.offset(), (int) (e.offset() + e.size())), e.shape()));
        Path f = dir.resolve("mismatch.safetensors");
        SafeTensors.write(f, tensors, Map.of(ModelFiles.CONFIG_KEY, ConfigJson.toJson(Presets.get("test-small"))));
        refused(f, "expected", "test-small");
    }

    @Test void nonFiniteWeightInALaterPieceIsRefusedWithItsElement() throws IOException {
        ModelConfig c = Presets.get("test-small");
        ParamLayout layout = new ParamLayout(c);
        float[] flat = ModelFixtures.randomParams(layout, 14);
        ParamLayout.Entry e = layout.entry("blocks.1.in_proj.weight");
        assertTrue(e.size() > 2 * STAGING);
        flat[(int) e.offset() + STAGING + 234] = Float.NaN;   // in the second piece
        Path f = dir.resolve("nan.safetensors");
        ModelFiles.save(f, layout, flat, Map.of());
        refused(f, "blocks.1.in_proj.weight", "element " + (STAGING + 234));
    }
}
