package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * The inference-only model ({@link ViT#inference}: compute weights per part, no masters) computes
 * what the training model computes from the same weights: logits and MAP-head features, fp32
 * and the bf16 reference, the paper's block and a variant (the variants' views come from the
 * block layout too). The CUDA side runs {@link #compare} on the emulated device.
 */
public class InferenceViTTest {

    /**
     * Relative difference (logits, features) of the inference model on {@code inferBe} from the
     * training model on {@code trainBe} (the same backend, or the CPU reference of a CUDA one), with
     * random weights written into the training model's masters and, entry by entry, into the
     * inference model's parts; fresh random images.
     */
    public static double[] compare(Backend trainBe, Backend inferBe, ModelConfig c, int batch, long seed) {
        System.out.println("seed " + seed + ", " + c.name() + " " + c.variant() + ": inference on " + inferBe.name() + " "
                + inferBe.precision() + " vs training model on " + trainBe.name() + " " + trainBe.precision());
        ParamLayout layout = new ParamLayout(c);
        float[] flat = ModelFixtures.randomParams(layout, seed);
        float[] px = ModelFixtures.images(c, batch, seed + 1);
        try (ViT train = new ViT(trainBe, c); ViT infer = ViT.inference(inferBe, c)) {
            assertTrue(infer.inferenceOnly() && !train.inferenceOnly());
            trainBe.upload(train.params(), flat);
            for (ParamLayout.Entry e : layout.entries()) {
                float[] part = java.util.Arrays.copyOfRange(flat, (int) e.offset(), (int) (e.offset() + e.size()));
                inferBe.upload(infer.weight(e.name()).reshape((int) e.size()), part);
            }
            float[][] want = run(train, px), got = run(infer, px);
            for (float v : got[0]) assertTrue(Float.isFinite(v));
            return new double[] {Check.relErr(got[0], Check.toDouble(want[0])), Check.relErr(got[1], Check.toDouble(want[1]))};
        }
    }

    /** Logits and features of {@code px} on the model's backend. */
    private static float[][] run(ViT m, float[] px) {
        Backend be = m.backend();
        ModelConfig c = m.config();
        Tensor images = be.allocate(px.length / (c.channels() * c.imageSize() * c.imageSize()), c.channels(),
                c.imageSize(), c.imageSize());
        try {
            be.upload(images, px);
            float[] logits = be.download(m.forward(images));
            return new float[][] {logits, be.download(m.features(images))};
        } finally {
            be.free(images);
        }
    }

    @ParameterizedTest
    @CsvSource({"paper,fp32", "paper,bf16", "sequential+biases,fp32", "no-qk-norm+biases,bf16"})
    void inferenceModelEqualsTrainingModelOnCpu(String variant, String precision) {
        ModelConfig c = Presets.get("test-small").withVariant(ModelFixtures.variant(variant));
        long seed = System.nanoTime();
        CpuBackend cpu = new CpuBackend();
        try (Backend be = precision.equals("bf16") ? new Bf16Rounding(cpu) : cpu) {
            double[] err = compare(be, be, c, 3, seed);
            System.out.printf("logits %.3g, features %.3g relative%n", err[0], err[1]);
            // the same ops on the same values in the same order: equal (bf16: the upload rounds as the cast does)
            assertEquals(0.0, err[0], 1e-6, "logits");
            assertEquals(0.0, err[1], 1e-6, "features");
        }
    }

    @ParameterizedTest
    @CsvSource({"fp32", "bf16"})
    void inferenceModelRefusesTraining(String precision) {
        CpuBackend cpu = new CpuBackend();
        try (Backend be = precision.equals("bf16") ? new Bf16Rounding(cpu) : cpu;
             ViT m = ViT.inference(be, Presets.get("test-tiny"))) {
            for (var call : java.util.List.<org.junit.jupiter.api.function.Executable>of(m::params, m::grads)) {
                var e = assertThrows(IllegalStateException.class, call);
                assertTrue(e.getMessage().contains("inference-only"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"));
            }
            // the weights are in the compute type: bf16 ones hold bf16 values after an upload
            Tensor w = m.weight("blocks.1.in_proj.weight");
            float[] v = Check.uniform(7, (int) w.size(), -1, 1);
            be.upload(w, v);
            float[] back = be.download(w);
            for (int i = 0; i < v.length; i++)
                assertEquals(precision.equals("bf16") ? vit22b.tensor.Bf16.round(v[i]) : v[i], back[i], 0f);
        }
        try (CpuBackend be = new CpuBackend(); ViT t = new ViT(be, Presets.get("test-tiny"))) {
            assertThrows(IllegalStateException.class, () -> t.weight("norm.weight"));
        }
    }

    /** A device that runs out after two parts: one line saying what was needed, and every part taken is freed. */
    @org.junit.jupiter.api.Test void deviceWithoutRoomIsRefusedInOneLineAndFreed() {
        ModelConfig c = Presets.get("test-small");
        PartLayout parts = PartLayout.of(c);
        long[] room = {parts.elements(0) + parts.elements(1) + 1};
        int[] live = {0};
        CpuBackend cpu = new CpuBackend();
        Backend small = (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, m, args) -> {
                    if (m.getName().equals("allocate")) {
                        long n = Tensor.sizeOf((int[]) args[args.length - 1]);
                        if ((room[0] -= n) < 0) throw new RuntimeException("out of memory on the test device");
                        live[0]++;
                    }
                    if (m.getName().equals("free")) live[0]--;
                    try {
                        return m.invoke(cpu, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        var e = assertThrows(IllegalStateException.class, () -> ViT.inference(small, c));
        System.out.println(e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        String need = String.format(java.util.Locale.ROOT, "%.2f GB (%d parameters x 4 bytes", parts.total() * 4 / 1e9, parts.total());
        assertTrue(e.getMessage().contains(need) && e.getMessage().contains("part 3 of " + parts.parts())
                && e.getMessage().contains("out of memory on the test device"), e.getMessage());
        assertEquals(0, live[0], "every part taken was freed");
        cpu.close();
    }
}
