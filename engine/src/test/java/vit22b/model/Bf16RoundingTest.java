package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;

/**
 * The bf16 reference really rounds: after a training pass every buffer the pass keeps (each
 * layer's activations, the MAP head's, the logits and every backward scratch, found by
 * reflection so that a new buffer is covered without editing this test) is a BF16 tensor holding
 * only bf16 values, except the norm and softmax statistics, which are float32 and hold values
 * bf16 cannot; the master weights and the parameter gradients stay float32 too. Dropping a
 * rounding point (an op whose output is not rounded, or an activation allocated float32) fails
 * here: a GEMM, norm or GELU output of fresh random inputs has non-zero low bits.
 */
class Bf16RoundingTest {

    /** Names of the buffers that stay float32 in bf16 precision: statistics of norms and softmax. */
    static boolean isStatistic(String name) {
        String last = name.substring(name.lastIndexOf('.') + 1).replaceAll("\\[\\d+\\]$", "");
        return last.toLowerCase().contains("stats") || last.equals("lse");
    }

    record Named(String name, Tensor t) {}

    /**
     * Every tensor an Activations holds: its fields, arrays of tensors, records (each layer's
     * Block.Saved, the Block.Scratch) and the model's own holder classes (Head, MapHead), walked
     * recursively so that a buffer added later is covered too.
     */
    static List<Named> buffers(Activations a) throws ReflectiveOperationException {
        List<Named> out = new ArrayList<>();
        walk(a, "", out, 0);
        return out;
    }

    static void walk(Object o, String prefix, List<Named> out, int depth) throws ReflectiveOperationException {
        if (o == null || depth > 4) return;
        if (o instanceof Tensor t) {
            out.add(new Named(prefix, t));
            return;
        }
        if (o instanceof Object[] arr) {
            for (int i = 0; i < arr.length; i++) walk(arr[i], prefix + "[" + i + "]", out, depth + 1);
            return;
        }
        Class<?> c = o.getClass();
        if (c.isRecord()) {
            for (RecordComponent rc : c.getRecordComponents())
                walk(rc.getAccessor().invoke(o), prefix + "." + rc.getName(), out, depth + 1);
            return;
        }
        if (!c.getPackageName().equals("vit22b.model") || c.isEnum()) return;
        for (Field f : c.getDeclaredFields()) {
            if (java.lang.reflect.Modifier.isStatic(f.getModifiers())) continue;
            f.setAccessible(true);
            walk(f.get(o), prefix + "." + f.getName(), out, depth + 1);
        }
    }

    static long notRepresentable(float[] v) {
        long n = 0;
        for (float x : v) if (!Bf16.representable(x)) n++;
        return n;
    }

    @ParameterizedTest
    @CsvSource({"test-small, paper, SIGMOID", "test-small, sequential+no-qk-norm+biases, SOFTMAX",
                "test-tiny, no-qk-norm, SIGMOID", "test-tiny, biases, SOFTMAX"})
    void everyStoredActivationIsBf16(String preset, String variant, LossKind loss) throws ReflectiveOperationException {
        ModelConfig c = Presets.get(preset).withVariant(ModelFixtures.variant(variant)).withLoss(loss);
        int batch = 3;
        long seed = System.nanoTime();
        System.err.println("Bf16RoundingTest " + preset + " " + variant + " seed " + seed);
        try (Bf16Rounding be = new Bf16Rounding(new CpuBackend()); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            be.upload(vit.params(), ModelFixtures.randomParams(vit.layout(), seed));
            Tensor images = buf.get(batch, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = buf.get(batch, c.classes());
            be.upload(images, ModelFixtures.images(c, batch, seed + 1));
            be.upload(targets, ModelFixtures.targets(c, batch, seed + 2));
            double loss1 = vit.forwardBackward(images, targets);
            assertTrue(Double.isFinite(loss1));
            Activations a = vit.run(images, true);   // the same buffers again (forward recomputed, backward kept)
            List<Named> all = buffers(a);
            int bf16 = 0;
            for (Named n : all) {
                float[] v = be.download(n.t());
                if (isStatistic(n.name())) {
                    assertEquals(DType.F32, n.t().dtype(), n.name());
                    assertTrue(!be.isBf16(n.t()), n.name() + " is a statistic: float32, not rounded");
                    boolean used = false;   // (the variants without QK-norm leave qkStats zero)
                    for (float x : v) used |= x != 0;
                    assertTrue(!used || notRepresentable(v) > 0, n.name() + " holds only bf16 values: are statistics rounded?");
                    continue;
                }
                assertTrue(be.isBf16(n.t()), n.name() + " is not a bf16 tensor: allocated float32?");
                assertEquals(0, notRepresentable(v), n.name() + ": values that are not bf16, a rounding point is missing");
                bf16++;
            }
            assertTrue(bf16 >= 20, "only " + bf16 + " activation buffers found");
            // float32 masters and parameter gradients: not rounded
            assertTrue(!be.isBf16(vit.params()) && !be.isBf16(vit.grads()));
            assertTrue(notRepresentable(be.download(vit.params())) > vit.layout().total() / 2, "master weights were rounded");
            assertTrue(notRepresentable(be.download(vit.grads())) > vit.layout().total() / 4, "parameter gradients were rounded");
        }
    }
}
