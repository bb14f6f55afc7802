package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** The whole model on the CPU backend against the float64 reference {@link RefModel}. */
class ViTTest {

    @ParameterizedTest
    @CsvSource({"test-tiny, RMS, TANH, 3", "test-small, RMS, TANH, 2", "test-small, LAYER, EXACT, 3"})
    void logitsMatchTheFloat64Reference(String preset, NormKind norm, GeluKind gelu, int batch) {
        ModelConfig c = Presets.get(preset).withNorm(norm).withGelu(gelu);
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c)) {
            float[] p = ModelFixtures.randomParams(vit.layout(), 11);
            float[] img = ModelFixtures.images(c, batch, 12);
            be.upload(vit.params(), p);
            Tensor images = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
            be.upload(images, img);
            RefModel ref = new RefModel(c);
            Check.assertClose("logits", be.download(vit.forward(images)),
                    ref.logits(Check.toDouble(p), Check.toDouble(img), batch), 1e-5);
            Check.assertClose("features", be.download(vit.features(images)),
                    ref.features(Check.toDouble(p), Check.toDouble(img), batch), 1e-5);
            be.free(images);
        }
    }

    /** Every parameter tensor's gradient against central differences of the float64 loss. */
    @ParameterizedTest
    @CsvSource({"RMS, TANH, SIGMOID", "LAYER, EXACT, SOFTMAX", "RMS, EXACT, SOFTMAX", "LAYER, TANH, SIGMOID"})
    void gradientsMatchFiniteDifferences(NormKind norm, GeluKind gelu, LossKind loss) {
        ModelConfig c = Presets.get("test-tiny").withNorm(norm).withGelu(gelu).withLoss(loss);
        int batch = 2;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c)) {
            float[] p = ModelFixtures.randomParams(vit.layout(), 21);
            float[] img = ModelFixtures.images(c, batch, 22);
            float[] tgt = ModelFixtures.targets(c, batch, 23);
            be.upload(vit.params(), p);
            Tensor images = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = be.allocate(batch, c.classes());
            be.upload(images, img);
            be.upload(targets, tgt);
            double lossCpu = vit.forwardBackward(images, targets);
            float[] g = be.download(vit.grads());

            RefModel ref = new RefModel(c);
            double[] pd = Check.toDouble(p), imgD = Check.toDouble(img), tgtD = Check.toDouble(tgt);
            double lossRef = ref.loss(pd, imgD, tgtD, batch);
            assertEquals(lossRef, lossCpu, 1e-5 * Math.abs(lossRef), "loss");
            double[] fd = Check.fdGrad(pd, x -> ref.loss(x, imgD, tgtD, batch), 1e-5);
            for (ParamLayout.Entry e : vit.layout().entries()) {
                int o = (int) e.offset(), n = (int) e.size();
                Check.assertClose("d " + e.name(), java.util.Arrays.copyOfRange(g, o, o + n),
                        java.util.Arrays.copyOfRange(fd, o, o + n), 1e-4);
            }
            be.free(images);
            be.free(targets);
        }
    }

    @Test void erfOfTheReferenceIsAccurate() {
        assertEquals(0.8427007929497149, RefModel.erf(1), 1e-15);
        assertEquals(-0.9953222650189527, RefModel.erf(-2), 1e-15);
        assertEquals(0.9999992569016276, RefModel.erf(3.5), 1e-15);
        assertEquals(0.00564184882003155, RefModel.erf(0.005), 1e-17);
        assertEquals(0.9999589021219005, RefModel.erf(2.9), 1e-13);
        assertEquals(0.9999883513426328, RefModel.erf(3.1), 1e-15);
    }
}
