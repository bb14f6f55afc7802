package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.Init;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** Model, init and optimiser together: a freshly initialised tiny model memorises one batch. */
class OverfitTest {

    @Test void lossOfOneBatchFallsUnderAdamW() {
        ModelConfig c = Presets.get("test-tiny").withLoss(LossKind.SOFTMAX);
        int batch = 4, k = c.classes();
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c)) {
            Init.init(be, vit.layout(), vit.params(), 1);
            Tensor images = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
            be.upload(images, Check.uniform(2, (int) images.size(), -1, 1));
            Tensor targets = be.allocate(batch, k);
            float[] t = new float[batch * k];
            for (int b = 0; b < batch; b++) t[b * k + b % k] = 1;
            be.upload(targets, t);
            try (AdamW opt = new AdamW(be, vit,
                    new AdamW.Config(0.9f, 0.999f, 1e-8f, 1e-4f, 1e-4f, 1f))) {
                double first = vit.forwardBackward(images, targets);
                assertEquals(Math.log(k), first, 1e-6, "zero head: uniform softmax");
                double loss = first;
                for (int s = 0; s < 40; s++) {
                    opt.step(3e-3f);
                    loss = vit.forwardBackward(images, targets);
                }
                assertTrue(loss < 0.1 * first, "loss " + first + " -> " + loss + " after 40 steps");
            } finally {
                be.free(images);
                be.free(targets);
            }
        }
    }
}
