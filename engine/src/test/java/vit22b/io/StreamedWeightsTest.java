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

    /** Small pieces: test-small's tensors are split into many pieces with tails. */
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
             ViT got = src.load(be, null, STAGING, StreamedWeights.Route.BYTES)) {
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
             ViT got = src.load(be, null, STAGING, StreamedWeights.Route.BYTES)) {
            for (ParamLayout.Entry e : layout.entries()) {
                float[] v = be.download(got.weight(e.name()));
                float[] want = Arrays.copyOfRange(ref, (int) e.offset(), (int) (e.offset() + e.size()));
                assertArrayEquals(want, v, e.name());
                for (int i = 0; i < v.length; i++) assertEquals(Bf16.round(flat[(int) e.offset() + i]), v[i], 0f, e.name());
            }
        }
    }

    /** test-small's weights in {@code type} (BF16: rounded once), with our metadata. */
    private static Path saveRandomAs(Path file, ModelConfig c, DType type, long seed) throws IOException {
        return saveAs(file, c, ModelFixtures.randomParams(new ParamLayout(c), seed), type);
    }

    private static Path saveAs(Path file, ModelConfig c, float[] flat, DType type) throws IOException {
        ParamLayout layout = new ParamLayout(c);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : layout.entries()) {
            float[] v = Arrays.copyOfRange(flat, (int) e.offset(), (int) (e.offset() + e.size()));
            if (type == DType.F32) {
                tensors.put(e.name(), TensorData.of(v, e.shape()));
            } else {
                short[] bits = new short[v.length];
                for (int i = 0; i < v.length; i++) bits[i] = Bf16.fromFloat(v[i]);
                tensors.put(e.name(), TensorData.bf16(bits, e.shape()));
            }
        }
        SafeTensors.write(file, tensors, Map.of(ModelFiles.CONFIG_KEY, ConfigJson.toJson(c)));
        return file;
    }

    /**
     * The file's bytes handed to the backend as they lie in the mapping (Route.BYTES) give every
     * weight bit for bit what the float route (widened to float32 on the host, then uploaded)
     * gives: F32 and BF16 files into fp32 and bf16 models, on the cpu, its bf16 reference and the
     * emulated CUDA device (GPU 0 too when present), pieces crossing every tensor.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"F32, fp32", "F32, bf16", "BF16, fp32", "BF16, bf16"})
    void bytesRouteEqualsTheFloatRouteBitForBit(DType type, String precision) throws IOException {
        long seed = System.nanoTime();
        System.out.println("seed " + seed + ", " + type + " file, " + precision);
        ModelConfig c = Presets.get("test-small");
        Path f = saveRandomAs(dir.resolve("m-" + type + ".safetensors"), c, type, seed);
        vit22b.backend.Precision p = precision.equals("bf16") ? vit22b.backend.Precision.BF16 : vit22b.backend.Precision.FP32;
        java.util.List<Backend> backends = new java.util.ArrayList<>();
        backends.add(p == vit22b.backend.Precision.BF16 ? new Bf16Rounding(new CpuBackend()) : new CpuBackend());
        backends.addAll(vit22b.backend.cuda.Gpu.devicesOrSkip(p));
        for (Backend be : backends)
            try (be; StreamedWeights.Source src = StreamedWeights.open(f, ModelFiles.Flags.NONE);
                 ViT bytes = src.load(be, null, STAGING, StreamedWeights.Route.BYTES);
                 ViT floats = src.load(be, null, STAGING, StreamedWeights.Route.FLOATS)) {
                for (ParamLayout.Entry e : new ParamLayout(c).entries()) {
                    float[] got = be.download(bytes.weight(e.name())), want = be.download(floats.weight(e.name()));
                    for (int i = 0; i < got.length; i++)
                        if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(want[i]))
                            assertEquals(want[i], got[i], 0f, be.name() + " " + e.name() + " element " + i);
                }
            }
    }

    /** Opening and loading {@code f} fails in one line containing {@code words}, and the file's bytes stay as they were. */
    private static void refused(Path f, String... words) throws IOException {
        byte[] before = Files.readAllBytes(f);
        Exception e = assertThrows(Exception.class, () -> {
            try (CpuBackend be = new CpuBackend(); StreamedWeights.Source src = StreamedWeights.open(f, ModelFiles.Flags.NONE);
                 ViT m = src.load(be, null, STAGING, StreamedWeights.Route.BYTES)) {
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

    @Test void infinityInABf16FileIsRefusedWithItsElement() throws IOException {
        ModelConfig c = Presets.get("test-small");
        ParamLayout layout = new ParamLayout(c);
        float[] flat = ModelFixtures.randomParams(layout, 15);
        ParamLayout.Entry e = layout.entry("blocks.0.out_proj.weight");
        flat[(int) e.offset() + 2 * STAGING + 5] = Float.NEGATIVE_INFINITY;   // in the third piece
        Path f = saveAs(dir.resolve("inf.safetensors"), c, flat, DType.BF16);
        refused(f, "blocks.0.out_proj.weight", "-Infinity", "element " + (2 * STAGING + 5));
    }
}
