package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.model.GeluKind;
import vit22b.model.Init;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ViT;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * bf16 training with the compute copy written by AdamW's pass (the bf16 reference,
 * Bf16Rounding(CpuBackend)): the losses and masters are bit-identical to the old behaviour, a
 * cast from the masters before every pass (forced here by {@link ViT#params}, which marks the copy
 * stale), while the fused run casts once in all; after every step the copy is the masters
 * rounded, bit for bit; restoring a checkpoint recasts, so the resumed steps repeat the
 * original ones exactly.
 */
class FusedCopyTrainingTest {
    static final ModelConfig MODEL = new ModelConfig("fused-copy", 32, 2, 64, 2, 4, 16, 3, 7, NormKind.RMS, GeluKind.TANH,
            LossKind.SOFTMAX, 0f);
    static final AdamW.Config OPT = new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.05f, 0.1f, 1f);
    static final int BATCH = 4, STEPS = 6;

    /** Losses of updates {@code from} to {@code to} - 1; batch s is drawn from seed + s, so any run can replay any step. */
    static double[] steps(ViT vit, AdamW opt, long seed, int from, int to, boolean castEveryPass) {
        Backend be = vit.backend();
        ModelConfig c = vit.config();
        int n = c.channels() * c.imageSize() * c.imageSize();
        Tensor images = be.allocate(BATCH, c.channels(), c.imageSize(), c.imageSize()), targets = be.allocate(BATCH, c.classes());
        double[] losses = new double[to - from];
        for (int s = from; s < to; s++) {
            SplittableRandom r = new SplittableRandom(seed + s);
            be.upload(images, Check.uniform(r.nextLong(), BATCH * n, -1, 1));
            float[] t = new float[BATCH * c.classes()];
            for (int b = 0; b < BATCH; b++) t[b * c.classes() + r.nextInt(c.classes())] = 1;
            be.upload(targets, t);
            if (castEveryPass) vit.params();   // marks the copy stale: the pass casts, as before the fused copy
            losses[s - from] = vit.forwardBackward(images, targets);
            opt.step(2e-3f);
            assertCopyIsRoundedMasters(vit, "after update " + (s + 1));
        }
        be.free(images);
        be.free(targets);
        return losses;
    }

    static void assertCopyIsRoundedMasters(ViT vit, String when) {
        ViT.Masters w = vit.masters();
        float[] p = vit.backend().download(w.params()), c = vit.backend().download(w.copy());
        for (int i = 0; i < p.length; i++)
            if (Float.floatToRawIntBits(Bf16.round(p[i])) != Float.floatToRawIntBits(c[i]))
                throw new AssertionError(when + ": copy[" + i + "] = " + c[i] + ", master " + p[i] + " rounds to " + Bf16.round(p[i]));
    }

    static float[] init(long seed) {
        try (CpuBackend cpu = new CpuBackend(); ViT vit = new ViT(cpu, MODEL)) {
            Init.init(cpu, vit.layout(), vit.params(), seed);
            float[] p = cpu.download(vit.params());
            // a small random classifier (Init's is zero), so every step moves every parameter
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < p.length; i++) if (p[i] == 0) p[i] = 0.02f * (float) Check.gaussian(r);
            return p;
        }
    }

    @Test void theFusedCopyTrainsBitForBitLikeACastBeforeEveryPass() {
        long seed = System.nanoTime();
        System.err.println("FusedCopyTrainingTest.bitForBit seed " + seed);
        float[] p0 = init(seed);
        double[][] losses = new double[2][];
        float[][] masters = new float[2][];
        long[] casts = new long[2];
        for (int run = 0; run < 2; run++)
            try (Bf16Rounding be = new Bf16Rounding(new CpuBackend()); ViT vit = new ViT(be, MODEL); AdamW opt = new AdamW(be, vit, OPT)) {
                be.upload(vit.params(), p0);
                losses[run] = steps(vit, opt, seed, 0, STEPS, run == 1);
                casts[run] = vit.copyCasts();
                masters[run] = be.download(vit.masters().params());
            }
        assertEquals(1, casts[0], "the fused run casts before its first pass only");
        assertEquals(STEPS, casts[1], "the cast-every-pass run");
        assertArrayEquals(losses[1], losses[0], "losses, fused copy vs a cast before every pass (seed " + seed + ")");
        assertArrayEquals(masters[1], masters[0], "masters after " + STEPS + " updates");
        assertTrue(losses[0][STEPS - 1] != losses[0][0], "the updates changed nothing");
    }

    @Test void restoringACheckpointRecastsTheCopy(@TempDir Path dir) throws Exception {
        long seed = System.nanoTime();
        System.err.println("FusedCopyTrainingTest.resume seed " + seed);
        float[] p0 = init(seed);
        try (Bf16Rounding be = new Bf16Rounding(new CpuBackend()); ViT vit = new ViT(be, MODEL); AdamW opt = new AdamW(be, vit, OPT)) {
            be.upload(vit.params(), p0);
            steps(vit, opt, seed, 0, 3, false);
            Checkpoints ckpts = new Checkpoints(dir, 2);
            ckpts.save(vit, opt, "", Map.of());
            double[] original = steps(vit, opt, seed, 3, STEPS, false);
            // the copy is current with update STEPS's weights; the restore must not leave it so
            long casts = vit.copyCasts();
            Checkpoints.State st = ckpts.loadNewestGood(s -> { }).orElseThrow();
            assertEquals(3, st.step());
            st.restore(vit, opt);
            double[] resumed = steps(vit, opt, seed, 3, STEPS, false);
            assertEquals(casts + 1, vit.copyCasts(), "the restore's masters were not cast (or cast more than once)");
            assertArrayEquals(original, resumed, "losses of the resumed updates (seed " + seed + ")");
            assertTrue(Files.list(dir).findAny().isPresent());
        }
    }

    @Test void fp32HasNoCopyAndABf16OptimiserWithoutOneIsRefused() {
        try (CpuBackend cpu = new CpuBackend(); ViT vit = new ViT(cpu, MODEL)) {
            assertNull(vit.masters().copy());
            assertEquals(0, vit.copyCasts());
        }
        try (Bf16Rounding be = new Bf16Rounding(new CpuBackend()); ViT vit = new ViT(be, MODEL)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new AdamW(be, vit.layout(), vit.params(), vit.grads(), OPT));
            assertTrue(e.getMessage().contains("new AdamW(backend, model, config)"), e.getMessage());
        }
    }
}
