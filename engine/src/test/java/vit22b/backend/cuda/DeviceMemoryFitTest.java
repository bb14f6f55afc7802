package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.backend.Precision;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.kernels.emu.EmulatedRuntime;
import vit22b.model.ModelConfig;
import vit22b.model.ModelFixtures;
import vit22b.model.PartLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/**
 * An inference model on a device too small for it, on the emulated device with a memory limit
 * ({@link EmulatedRuntime#limitMemory}, as a GPU of that size): weights that do not fit are
 * refused before anything is allocated, in one line naming what they need, what is free and
 * the fix (--precision bf16 where they are float32, a GPU with more memory); weights that fit
 * with activations that do not are refused at the forward, naming the batch and a smaller --batch.
 */
class DeviceMemoryFitTest {
    private static CudaBackend limited(Precision p, EmulatedRuntime rt) {
        return new CudaBackend(rt, CudaBackend.GemmPath.KERNELS, p);
    }

    private static void oneLine(String m, String... words) {
        System.out.println(m);
        assertFalse(m.contains("\n"), "one line");
        for (String w : words) assertTrue(m.contains(w), "'" + w + "' in: " + m);
    }

    @Test void weightsLargerThanTheDeviceAreRefusedBeforeAllocating() {
        if (!EmuLibrary.built()) Gpu.skip("the emulated device is not built (no g++ at build time)");
        ModelConfig c = Presets.get("test-small");
        long params = PartLayout.of(c).total();
        for (Precision p : Precision.values()) {
            EmulatedRuntime rt = new EmulatedRuntime(EmuLibrary.bundled(), false);
            try (CudaBackend be = limited(p, rt)) {
                long before = rt.bytesAllocated();
                rt.limitMemory(before + params);   // room for a quarter of the fp32 weights, half of the bf16 ones
                var e = assertThrows(IllegalStateException.class, () -> ViT.inference(be, c));
                oneLine(e.getMessage(), "not enough cuda-emu memory for model 'test-small'", p.compute() + " weights need",
                        "cuda-emu memory are free", "a GPU with more free memory");
                assertTrue(e.getMessage().contains("--precision bf16") == (p == Precision.FP32), e.getMessage());
                assertTrue(rt.bytesAllocated() - before < 4096, "nothing allocated for the refused model but a one-element probe");
            }
        }
    }

    @Test void activationsLargerThanWhatIsLeftAreRefusedWithTheBatch() {
        if (!EmuLibrary.built()) Gpu.skip("the emulated device is not built (no g++ at build time)");
        ModelConfig c = Presets.get("test-tiny");
        EmulatedRuntime rt = new EmulatedRuntime(EmuLibrary.bundled(), false);
        try (CudaBackend be = limited(Precision.BF16, rt); ViT m = ViT.inference(be, c)) {
            int batch = 16;
            Tensor x = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
            be.upload(x, ModelFixtures.images(c, batch, 3));
            rt.limitMemory(rt.bytesAllocated() + 4096);   // the weights and images fit; a pass's buffers do not
            var e = assertThrows(IllegalStateException.class, () -> m.forward(x));
            oneLine(e.getMessage(), "not enough cuda-emu memory for the forward activations of model 'test-tiny' at batch 16",
                    "GB free", "use a smaller --batch");
            rt.limitMemory(Long.MAX_VALUE);
            assertTrue(be.download(m.forward(x)).length == batch * c.classes(), "the same model runs once the memory is there");
            be.free(x);
        }
    }
}
