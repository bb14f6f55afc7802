package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * bf16 training on the CPU reference tracks fp32: the demo's model (vit-micro-fmnist, patch 7)
 * from the same initial weights on the same batches (a learnable synthetic task: ten class
 * templates plus noise, fresh for each seed, seed printed), 30 AdamW updates in each precision.
 *
 * <p>The bounds. Step 1 sees identical master weights, so its losses differ by rounding only:
 * bf16's unit roundoff is 2^-9 = 0.2%, and the loss averages many independently rounded values
 * over 32 images, so the difference is far below that (measured 6e-4 relative); the bound, 5e-3,
 * still fails on a biased rounding (truncation: 2^-8 per value, all one way) or on bf16
 * accumulation. Afterwards the runs' weights drift apart through different gradients, and the
 * loss falls by four orders of magnitude, where relative differences of tiny losses mean
 * nothing: each step's difference is bounded by 1% of the starting loss plus 5% of the current
 * one (measured at most 0.2% of the start; the largest at loss 0.5, 1.4e-2 against a bound of
 * 9.6e-2). Both runs must learn the classes (final loss under 0.5, where predicting the class
 * frequencies alone gives 10 H(0.1) = 3.25), so tracking is not met by two flat curves.
 */
class Bf16TrainingTest {
    static final int STEPS = 30, BATCH = 32;
    static final float NOISE = 0.3f, LR = 4e-3f;

    /** Losses of {@code steps} updates from masters p0 on batches of {@code batch} drawn from seed. */
    static double[] train(Backend be, ModelConfig c, float[] p0, long seed, int steps, int batch) {
        double[] losses = new double[steps];
        int n = c.imageSize() * c.imageSize() * c.channels(), k = c.classes();
        SplittableRandom r = new SplittableRandom(seed);
        float[][] templates = new float[k][];
        for (int j = 0; j < k; j++) templates[j] = Check.uniform(r.nextLong(), n, -1, 1);
        try (ViT vit = new ViT(be, c);
             AdamW opt = new AdamW(be, vit, new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 0.03f, 1f))) {
            be.upload(vit.params(), p0);
            Tensor images = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize()), targets = be.allocate(batch, k);
            float[] img = new float[batch * n], tgt = new float[batch * k];
            for (int s = 0; s < steps; s++) {
                java.util.Arrays.fill(tgt, 0);
                for (int b = 0; b < batch; b++) {
                    int label = r.nextInt(k);
                    tgt[b * k + label] = 1;
                    for (int i = 0; i < n; i++) img[b * n + i] = templates[label][i] + NOISE * (float) Check.gaussian(r);
                }
                be.upload(images, img);
                be.upload(targets, tgt);
                losses[s] = vit.forwardBackward(images, targets);
                opt.step((float) (LR * Math.min(1.0, (s + 1) / 5.0)));
            }
            be.free(images);
            be.free(targets);
        }
        return losses;
    }

    /** The demo's model at patch 7: what both this test and the emulated-CUDA one train. */
    static ModelConfig model() { return Presets.get("vit-micro-fmnist").withPatch(7); }

    /** Initial masters: Init's, with a small random classifier. */
    static float[] initialParams(ModelConfig c, long seed) {
        float[] p0;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c)) {
            Init.init(be, vit.layout(), vit.params(), seed);
            p0 = be.download(vit.params());
            // The classifier starts at zero (the paper's init), which would make step 1's loss
            // independent of everything before it; small random weights let it see the body.
            ParamLayout.Entry head = vit.layout().entry("head.weight");
            float[] w = Check.randn(seed + 2, Math.toIntExact(Tensor.sizeOf(head.shape())), 0.1);
            System.arraycopy(w, 0, p0, Math.toIntExact(head.offset()), w.length);
        }
        return p0;
    }

    /** Whether step s's loss difference is inside the tracking bound (class comment) against the fp32 run. */
    static boolean tracks(double[] fp32, double[] other, int s) {
        return Math.abs(other[s] - fp32[s]) <= 0.01 * fp32[0] + 0.05 * fp32[s];
    }

    @Test void bf16LossesTrackFp32() {
        long seed = System.nanoTime();
        System.err.println("Bf16TrainingTest seed " + seed);
        ModelConfig c = model();
        float[] p0 = initialParams(c, seed);
        double[] fp32, bf16;
        try (CpuBackend be = new CpuBackend()) { fp32 = train(be, c, p0, seed + 1, STEPS, BATCH); }
        try (Bf16Rounding be = new Bf16Rounding(new CpuBackend())) { bf16 = train(be, c, p0, seed + 1, STEPS, BATCH); }
        double first = Math.abs(bf16[0] - fp32[0]) / fp32[0];
        for (int s = 0; s < STEPS; s++) {
            double diff = Math.abs(bf16[s] - fp32[s]), bound = 0.01 * fp32[0] + 0.05 * fp32[s];
            System.err.printf("step %2d  fp32 %.5f  bf16 %.5f  |diff| %.2e  bound %.2e%n", s + 1, fp32[s], bf16[s], diff, bound);
            assertTrue(tracks(fp32, bf16, s), "step " + (s + 1) + ": bf16 loss " + bf16[s] + " vs fp32 " + fp32[s]);
        }
        System.err.printf("Bf16TrainingTest: step 1 relative difference %.2e%n", first);
        assertTrue(bf16[0] != fp32[0], "bf16 gave fp32's loss bit for bit: nothing is rounded");
        assertTrue(first < 5e-3, "step 1 (same weights): relative difference " + first);
        for (double[] l : new double[][] {fp32, bf16})
            assertTrue(l[STEPS - 1] < 0.5, "the classes were not learnt: loss " + l[0] + " -> " + l[STEPS - 1]);
    }
}
