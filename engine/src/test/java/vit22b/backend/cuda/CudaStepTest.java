package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * A whole training pass (forward, loss, backward) of the same ViT with the same random
 * parameters, images and targets on the CPU and on the GPU: the loss and every parameter
 * tensor's gradient agree within 1e-3 (relative). Then a repeated pass calls cuMemAlloc no
 * more. Skips without a GPU.
 */
class CudaStepTest {
    static CudaBackend gpu;
    static Backend cpu;

    @BeforeAll static void open() {
        gpu = Gpu.backendOrSkip();
        cpu = new CpuBackend();
    }

    @AfterAll static void close() {
        if (gpu != null) gpu.close();
        if (cpu != null) cpu.close();
    }

    /** The kernels are the paper's block: a variant is refused by name, before any allocation. */
    @org.junit.jupiter.api.Test void blockVariantsAreRefused() {
        var c = vit22b.model.Presets.get("test-tiny").withVariant(vit22b.model.Variant.PAPER.withQkNorm(false).withBiases(true));
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new vit22b.model.ViT(gpu, c));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("--no-qk-norm --biases")
                && e.getMessage().contains("--backend cpu"), e.getMessage());
    }

    /** Every parameter random (Init would zero the classifier, and with it every other gradient). */
    static float[] randomParams(ParamLayout layout, long seed) {
        float[] p = new float[(int) layout.total()];
        SplittableRandom r = new SplittableRandom(seed);
        for (ParamLayout.Entry e : layout.entries()) {
            int[] s = e.shape();
            boolean scale = e.name().endsWith("norm.weight");
            boolean matrix = s.length >= 2 && e.name().endsWith("weight");
            double std = scale ? 0.2 : matrix ? 1 / Math.sqrt(e.size() / s[0]) : 0.3;
            for (int i = 0; i < e.size(); i++) p[(int) (e.offset() + i)] = (float) ((scale ? 1 : 0) + std * Check.gaussian(r));
        }
        return p;
    }

    static Tensor put(Backend b, float[] data, int... shape) {
        Tensor t = b.allocate(shape);
        b.upload(t, data);
        return t;
    }

    @ParameterizedTest
    @CsvSource({"64, 2, 4, 32, 4, RMS, TANH, SIGMOID, 3", "48, 2, 3, 16, 2, LAYER, EXACT, SOFTMAX, 2",
                "128, 1, 2, 56, 4, RMS, TANH, SIGMOID, 2"})
    void trainingPassMatchesCpu(int width, int depth, int heads, int image, int patch, NormKind norm, GeluKind gelu,
                                LossKind loss, int batch) {
        checkPass(gpu, cpu, width, depth, heads, image, patch, norm, gelu, loss, batch);
    }

    static void checkPass(CudaBackend gpu, Backend cpu, int width, int depth, int heads, int image, int patch,
                          NormKind norm, GeluKind gelu, LossKind loss, int batch) {
        ModelConfig c = new ModelConfig("step-test", width, depth, 2 * width, heads, patch, image, 3, 11, norm, gelu, loss, 0f);
        long seed = System.nanoTime();
        float[] p = randomParams(new ParamLayout(c), seed);
        float[] img = Check.uniform(seed + 1, batch * 3 * image * image, -1, 1);
        float[] tgt = new float[batch * c.classes()];
        SplittableRandom r = new SplittableRandom(seed + 2);
        for (int b = 0; b < batch; b++) tgt[b * c.classes() + r.nextInt(c.classes())] = 1;
        try (ViT onCpu = new ViT(cpu, c); ViT onGpu = new ViT(gpu, c)) {
            cpu.upload(onCpu.params(), p);
            gpu.upload(onGpu.params(), p);
            Tensor ic = put(cpu, img, batch, 3, image, image), ig = put(gpu, img, batch, 3, image, image);
            Tensor tc = put(cpu, tgt, batch, c.classes()), tg = put(gpu, tgt, batch, c.classes());
            double lc = onCpu.forwardBackward(ic, tc), lg = onGpu.forwardBackward(ig, tg);
            assertEquals(lc, lg, 1e-3 * Math.abs(lc), "loss");
            float[] gc = cpu.download(onCpu.grads()), gg = gpu.download(onGpu.grads());
            for (ParamLayout.Entry e : onCpu.layout().entries()) {
                int from = (int) e.offset(), n = (int) e.size();
                float[] want = java.util.Arrays.copyOfRange(gc, from, from + n), got = java.util.Arrays.copyOfRange(gg, from, from + n);
                Check.assertClose("gradient of " + e.name(), got, Check.toDouble(want), 1e-3);
            }
            long allocs = gpu.allocator().driverAllocations();
            double again = onGpu.forwardBackward(ig, tg);
            assertEquals(lg, again, 1e-6 * Math.abs(lg), "a repeated pass changes the loss");
            assertTrue(gpu.allocator().driverAllocations() == allocs, "the second training pass called cuMemAlloc");
            cpu.free(ic); cpu.free(tc); gpu.free(ig); gpu.free(tg);
        }
    }
}
