package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** The whole model on the CPU backend against the float64 reference {@link RefModel}. */
class ViTTest {
    private static final double H = 1e-5;

    @ParameterizedTest
    @CsvSource({"test-tiny, 2, RMS, TANH, 3, paper", "test-tiny, 3, LAYER, TANH, 2, paper",
                "test-small, 2, RMS, TANH, 2, paper", "test-small, 3, LAYER, EXACT, 3, paper",
                "test-small, 2, RMS, TANH, 2, no-qk-norm", "test-small, 2, LAYER, EXACT, 2, no-qk-norm",
                "test-small, 2, RMS, TANH, 2, sequential", "test-small, 3, LAYER, EXACT, 2, sequential",
                "test-small, 2, RMS, TANH, 2, biases", "test-small, 2, LAYER, EXACT, 3, biases",
                "test-small, 2, LAYER, TANH, 2, sequential+no-qk-norm+biases", "test-tiny, 2, RMS, EXACT, 2, no-qk-norm+biases"})
    void logitsMatchTheFloat64Reference(String preset, int depth, NormKind norm, GeluKind gelu, int batch, String variant) {
        ModelConfig c = Presets.get(preset).withDepth(depth).withNorm(norm).withGelu(gelu)
                .withVariant(ModelFixtures.variant(variant));
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            float[] p = ModelFixtures.randomParams(vit.layout(), 11);
            float[] img = ModelFixtures.images(c, batch, 12);
            be.upload(vit.params(), p);
            Tensor images = buf.get(batch, c.channels(), c.imageSize(), c.imageSize());
            be.upload(images, img);
            RefModel ref = new RefModel(c);
            Check.assertClose("logits", be.download(vit.forward(images)),
                    ref.logits(Check.toDouble(p), Check.toDouble(img), batch), 1e-5);
            Check.assertClose("features", be.download(vit.features(images)),
                    ref.features(Check.toDouble(p), Check.toDouble(img), batch), 1e-5);
        }
    }

    /** Every parameter tensor's gradient against central differences of the float64 reference loss. */
    @ParameterizedTest
    @CsvSource({"RMS, TANH, SIGMOID, paper", "LAYER, EXACT, SOFTMAX, paper", "RMS, EXACT, SOFTMAX, paper",
                "LAYER, TANH, SIGMOID, paper", "RMS, TANH, SIGMOID, no-qk-norm", "LAYER, EXACT, SOFTMAX, no-qk-norm",
                "RMS, TANH, SIGMOID, sequential", "LAYER, EXACT, SOFTMAX, sequential", "RMS, EXACT, SIGMOID, biases",
                "LAYER, TANH, SOFTMAX, biases", "LAYER, TANH, SIGMOID, sequential+no-qk-norm+biases",
                "RMS, EXACT, SOFTMAX, sequential+biases", "LAYER, TANH, SIGMOID, no-qk-norm+biases"})
    void gradientsMatchFiniteDifferences(NormKind norm, GeluKind gelu, LossKind loss, String variant) {
        ModelConfig c = Presets.get("test-tiny").withNorm(norm).withGelu(gelu).withLoss(loss)
                .withVariant(ModelFixtures.variant(variant));
        int batch = 2;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            float[] p = ModelFixtures.randomParams(vit.layout(), 21);
            float[] img = ModelFixtures.images(c, batch, 22);
            float[] tgt = ModelFixtures.targets(c, batch, 23);
            be.upload(vit.params(), p);
            Tensor images = buf.get(batch, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = buf.get(batch, c.classes());
            be.upload(images, img);
            be.upload(targets, tgt);
            double lossCpu = vit.forwardBackward(images, targets);
            float[] g = be.download(vit.grads());

            RefModel ref = new RefModel(c);
            double[] pd = Check.toDouble(p), imgD = Check.toDouble(img), tgtD = Check.toDouble(tgt);
            double lossRef = ref.loss(pd, imgD, tgtD, batch);
            assertEquals(lossRef, lossCpu, 1e-5 * Math.abs(lossRef), "loss");
            // central differences on up to 24 seeded elements of every tensor (all of the small ones)
            SplittableRandom pick = new SplittableRandom(24);
            for (ParamLayout.Entry e : vit.layout().entries()) {
                int o = (int) e.offset(), n = (int) e.size(), k = Math.min(n, 24);
                float[] got = new float[k];
                double[] fd = new double[k];
                for (int j = 0; j < k; j++) {
                    int i = o + (k == n ? j : pick.nextInt(n));
                    got[j] = g[i];
                    double old = pd[i];
                    pd[i] = old + H;
                    double up = ref.loss(pd, imgD, tgtD, batch);
                    pd[i] = old - H;
                    double down = ref.loss(pd, imgD, tgtD, batch);
                    pd[i] = old;
                    fd[j] = (up - down) / (2 * H);
                }
                if (e.name().endsWith("k_norm.bias")) {
                    // adding one vector to every normed key adds q.b to a whole row of logits, which the
                    // softmax cancels: the exact gradient is 0, so both must be rounding noise
                    for (int j = 0; j < k; j++)
                        assertTrue(Math.abs(got[j]) < 1e-5 && Math.abs(fd[j]) < 1e-7,
                                "d " + e.name() + "[" + j + "] = " + got[j] + " (finite difference " + fd[j] + "), expected 0");
                } else {
                    Check.assertClose("d " + e.name(), got, fd, 1e-5);
                }
            }
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
