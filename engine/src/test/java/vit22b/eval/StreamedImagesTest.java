package vit22b.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.backend.cuda.CudaBackend;
import vit22b.data.Dataset;
import vit22b.data.Image;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.ViT;

/** Evaluation sets decoded a batch at a time: no whole-set decode, no int overflow of offsets. */
class StreamedImagesTest {

    /** Random images of any declared size, counting decodes. */
    record Fake(int n, int channels, int side, int numLabels, long seed, AtomicLong decodes) implements Dataset {
        @Override public String name() { return "fake"; }
        @Override public int size() { return n; }
        @Override public List<String> classes() {
            List<String> l = new ArrayList<>();
            for (int i = 0; i < numLabels; i++) l.add("c" + i);
            return l;
        }
        @Override public int height() { return side; }
        @Override public int width() { return side; }
        @Override public int label(int i) { return Math.floorMod(i * 31 + 7, numLabels); }
        @Override public Image image(int i) {
            decodes.incrementAndGet();
            SplittableRandom r = new SplittableRandom(seed ^ i);
            float[] px = new float[channels * side * side];
            for (int k = 0; k < px.length; k++) px[k] = (float) (r.nextDouble() * 2 - 1);
            return new Image(channels, side, side, px);
        }
        @Override public String source(int i) { return "fake#" + i; }
    }

    @Test void aStreamedScoreDecodesEachImageOnceAndEqualsTheInMemoryScore() throws IOException {
        long seed = new SplittableRandom().nextLong();
        System.out.println("StreamedImagesTest seed " + seed);
        ModelConfig c = Presets.get("test-tiny");
        AtomicLong decodes = new AtomicLong();
        Fake data = new Fake(23, c.channels(), c.imageSize(), c.classes(), seed, decodes);
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c)) {
            Init.init(be, vit.layout(), vit.params(), seed);
            StreamedImages streamed = StreamedImages.of(data, c.channels(), c.imageSize(), 0, false);
            assertEquals(0, decodes.get(), "opening a streamed set decodes nothing");
            Evaluate.Score s = Evaluate.score(vit, streamed, 5);
            assertEquals(23, decodes.get(), "each image decoded once");
            decodes.set(0);
            Evaluate.Score whole = Evaluate.score(vit, LabeledImages.of(data, c.channels(), c.imageSize(), 0), 5);
            assertEquals(whole.count(), s.count());
            assertEquals(whole.accuracy(), s.accuracy());
            assertEquals(whole.loss(), s.loss(), 1e-12, "seed " + seed);
        }
    }

    /**
     * Scoring in bf16 on the emulated CUDA device (bf16 logits: the loss's gradient buffer must be
     * bf16 too) gives the CPU bf16 reference's loss within the whole-step bound, 2e-2, on the same
     * weights and images (seed printed).
     */
    @Test void aBf16ScoreOnTheEmulatedDeviceMatchesTheCpuReference() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(vit22b.kernels.emu.EmuLibrary.built(), "the emulated device is not built");
        long seed = new SplittableRandom().nextLong();
        System.out.println("StreamedImagesTest bf16 seed " + seed);
        ModelConfig c = Presets.get("test-tiny");
        Fake data = new Fake(11, c.channels(), c.imageSize(), c.classes(), seed, new AtomicLong());
        EvalImages images = LabeledImages.of(data, c.channels(), c.imageSize(), 0);
        float[] p;
        Evaluate.Score ref, emu;
        try (Backend be = new Bf16Rounding(new CpuBackend()); ViT vit = new ViT(be, c)) {
            Init.init(be, vit.layout(), vit.params(), seed);
            p = be.download(vit.params());
            ref = Evaluate.score(vit, images, 4);
        }
        try (Backend be = CudaBackend.emulated(Precision.BF16); ViT vit = new ViT(be, c)) {
            be.upload(vit.params(), p);
            emu = Evaluate.score(vit, images, 4);
        }
        assertEquals(ref.count(), emu.count());
        assertEquals(ref.loss(), emu.loss(), 2e-2 * Math.abs(ref.loss()), "seed " + seed);
    }

    @Test void readingTheEndOfASetNearIntMaxDecodesOnlyThatBatch() throws IOException {
        // 2^31 - 1 images of 3 x 64 x 64: offsets into the set are 2.6e13 values, far past an int
        AtomicLong decodes = new AtomicLong();
        Fake huge = new Fake(Integer.MAX_VALUE, 3, 64, 1000, 42, decodes);
        StreamedImages s = StreamedImages.of(huge, 3, 64, 0, false);
        assertEquals(Integer.MAX_VALUE, s.count());
        EvalImages.Chunk last = s.read(s.count() - 3, 8);
        assertEquals(3, last.count());
        assertEquals(3, decodes.get());
        for (int k = 0; k < 3; k++) assertEquals(huge.label(Integer.MAX_VALUE - 3 + k), last.labels()[k]);
        Image want = huge.image(Integer.MAX_VALUE - 1);
        assertEquals(want.pixels()[5], last.pixels()[2 * 3 * 64 * 64 + 5]);
        assertEquals(0, s.read(s.count(), 8).count());
    }

    @Test void holdingAHugeSetInMemoryIsAClearErrorNotAnOverflow() {
        Fake huge = new Fake(Integer.MAX_VALUE, 3, 64, 10, 1, new AtomicLong());
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> LabeledImages.of(huge, 3, 64, 0));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("too many to hold in memory"), e.getMessage());
    }
}
