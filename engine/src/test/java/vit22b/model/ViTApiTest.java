package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** The model's API around the maths: reuse of buffers, batch changes, bad input, init. */
class ViTApiTest {
    private static final ModelConfig C = Presets.get("test-tiny");

    private static Tensor images(CpuBackend be, Buffers buf, int batch, long seed) {
        Tensor t = buf.get(batch, C.channels(), C.imageSize(), C.imageSize());
        be.upload(t, ModelFixtures.images(C, batch, seed));
        return t;
    }

    @Test void repeatedStepsGiveTheSameGradientsAndBatchSizesMayChange() {
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, C); Buffers buf = new Buffers(be)) {
            be.upload(vit.params(), ModelFixtures.randomParams(vit.layout(), 41));
            Tensor img2 = images(be, buf, 2, 42), img3 = images(be, buf, 3, 43);
            Tensor tgt2 = buf.get(2, C.classes()), tgt3 = buf.get(3, C.classes());
            be.upload(tgt2, ModelFixtures.targets(C, 2, 44));
            be.upload(tgt3, ModelFixtures.targets(C, 3, 45));
            double loss = vit.forwardBackward(img2, tgt2);
            float[] g = be.download(vit.grads());
            vit.forwardBackward(img3, tgt3);
            assertEquals(loss, vit.forwardBackward(img2, tgt2), 0, "same loss after another batch size");
            assertArrayEquals(g, be.download(vit.grads()), "gradients are zeroed, not accumulated, per step");
            assertEquals(loss, vit.loss(img2, tgt2), 0, "loss without backward");
        }
    }

    @Test void initialisedModelPredictsTheHeadBias() {
        ModelConfig c = C.withHeadBiasInit(-10f);
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            Init.init(be, vit.layout(), vit.params(), 5);
            float[] logits = be.download(vit.forward(images(be, buf, 2, 6)));
            for (float z : logits) assertEquals(-10f, z, 0f);
            float[] f = be.download(vit.features(images(be, buf, 2, 6)));
            double sq = 0;
            for (float x : f) sq += x * x;
            assertTrue(Double.isFinite(sq) && sq > 0, "features are finite and not zero");
        }
    }

    @Test void backboneWithoutClassifierGivesFeatures() {
        ModelConfig c = C.withClasses(0);
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            float[] p = ModelFixtures.randomParams(vit.layout(), 51);
            be.upload(vit.params(), p);
            float[] img = ModelFixtures.images(c, 2, 52);
            Tensor t = images(be, buf, 2, 52);
            Check.assertClose("features", be.download(vit.features(t)),
                    new RefModel(c).features(Check.toDouble(p), Check.toDouble(img), 2), 1e-5);
            var ex = assertThrows(IllegalArgumentException.class, () -> vit.forward(t));
            assertTrue(ex.getMessage().contains("no classifier"), ex.getMessage());
        }
    }

    @Test void badShapesAreRefusedClearly() {
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, C); Buffers buf = new Buffers(be)) {
            Tensor wrong = buf.get(2, 1, C.imageSize(), C.imageSize());
            var ex = assertThrows(IllegalArgumentException.class, () -> vit.forward(wrong));
            assertTrue(ex.getMessage().contains("expected (batch, 3, 8, 8)"), ex.getMessage());
            Tensor tgt = buf.get(3, C.classes());
            ex = assertThrows(IllegalArgumentException.class, () -> vit.forwardBackward(images(be, buf, 2, 1), tgt));
            assertTrue(ex.getMessage().contains("do not match logits"), ex.getMessage());
        }
    }

    @Test void attentionStatisticsPerBlock() {
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, C); Buffers buf = new Buffers(be)) {
            be.upload(vit.params(), ModelFixtures.randomParams(vit.layout(), 61));
            Tensor img = images(be, buf, 2, 62), tgt = buf.get(2, C.classes());
            assertThrows(IllegalStateException.class, vit::attentionStats, "no training pass yet");
            AttentionStats s = vit.attentionStats(img);
            be.upload(tgt, ModelFixtures.targets(C, 2, 63));
            vit.forwardBackward(img, tgt);
            assertArrayEquals(s.maxAbsLogit(), vit.attentionStats().maxAbsLogit(), "same images, same statistics");
            assertEquals(C.depth(), s.maxAbsLogit().length);
            for (int i = 0; i < C.depth(); i++) {
                assertTrue(s.maxAbsLogit()[i] > 0, "max logit of block " + i);
                double e = s.meanEntropy()[i];
                assertTrue(e > 0 && e < Math.log(C.tokens()), "entropy " + e + " in (0, log N)");
            }
        }
    }
}
