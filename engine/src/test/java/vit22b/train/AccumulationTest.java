package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.ViT;

/** Gradient accumulation: two batches of b images per update equal one batch of 2b images. */
class AccumulationTest {
    static final long SEED = 90210;

    /** A fixed list of images served in batches of {@code batch}, in order, round and round. */
    static final class FixedBatches implements BatchSource {
        final float[] images;
        final int[] labels;
        final int per, batch;
        long served;

        FixedBatches(float[] images, int[] labels, int per, int batch) {
            this.images = images; this.labels = labels; this.per = per; this.batch = batch;
        }

        @Override public Batch next() {
            int start = (int) (served % labels.length);
            served += batch;
            return new Batch(Arrays.copyOfRange(images, start * per, (start + batch) * per),
                    Arrays.copyOfRange(labels, start, start + batch));
        }

        @Override public String position() { return "0:" + served; }
        @Override public long imagesSeen() { return served; }
        @Override public double epoch() { return (double) served / labels.length; }
        @Override public void close() {}
    }

    /** Parameters after {@code steps} updates of batch x accum images each. */
    static float[] train(ModelConfig c, float[] images, int[] labels, int batch, int accum, int steps) throws Exception {
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c);
             AdamW opt = new AdamW(be, vit, new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 0.03f, 1f))) {
            Init.init(be, vit.layout(), vit.params(), SEED);
            var s = new Trainer.Settings(steps, batch, LrSchedule.of("rsqrt", 1e-3, steps, 1, 0), 0, 0, 0, 8, accum);
            int per = c.channels() * c.imageSize() * c.imageSize();
            var r = new Trainer(vit, opt, s, null, null, null, null, Map.of()).run(new FixedBatches(images, labels, per, batch));
            assertEquals(steps, r.step());
            return be.download(vit.params());
        }
    }

    @Test void twoBatchesOfBEqualOneOfTwoB() throws Exception {
        System.out.println("AccumulationTest seed " + SEED);
        ModelConfig c = Presets.get("test-tiny");
        int b = 3, per = c.channels() * c.imageSize() * c.imageSize();
        SplittableRandom r = new SplittableRandom(SEED);
        float[] images = new float[4 * b * per];
        for (int i = 0; i < images.length; i++) images[i] = (float) (r.nextDouble() * 2 - 1);
        int[] labels = new int[4 * b];
        for (int i = 0; i < labels.length; i++) labels[i] = r.nextInt(c.classes());
        float[] start;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c)) {
            Init.init(be, vit.layout(), vit.params(), SEED);
            start = be.download(vit.params());
        }
        float[] big = train(c, images, labels, 2 * b, 1, 2);
        float[] accumulated = train(c, images, labels, b, 2, 2);
        double maxDiff = 0, maxMove = 0;
        for (int i = 0; i < big.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(big[i] - accumulated[i]));
            maxMove = Math.max(maxMove, Math.abs(big[i] - start[i]));
        }
        System.out.printf("accum 2 x %d vs batch %d after 2 updates: max |diff| %.3g, max parameter move %.3g%n", b, 2 * b, maxDiff, maxMove);
        assertTrue(maxMove > 1e-5, "the updates moved the parameters by " + maxMove);
        assertTrue(maxDiff < 1e-6, "max |diff| " + maxDiff);
    }
}
