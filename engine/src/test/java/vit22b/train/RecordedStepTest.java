package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.Gpu;
import vit22b.model.GeluKind;
import vit22b.model.Init;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * {@link ViTLearner}'s recorded update (a CUDA graph of forward, loss, backward and AdamW, replayed)
 * against plain eager updates on the same device from the same weights and batches (seed printed):
 * the same losses, gradient norms and final parameters, with replays really taken, and the
 * recording dropped and made again when a short batch (another batch size) and an evaluation
 * forward at yet another size reallocate the model's activation buffers in between. Replaying a
 * recording over freed buffers would read whatever reused that memory and drift off the eager run.
 */
class RecordedStepTest {
    static List<CudaBackend> devices;

    @BeforeAll static void open() { devices = Gpu.devicesOrSkip(); }

    @AfterAll static void close() {
        if (devices != null) for (CudaBackend d : devices) d.close();
    }

    @Test void replayedUpdatesMatchEagerOnes() {
        ModelConfig c = new ModelConfig("recorded-step", 32, 2, 64, 2, 4, 8, 3, 7, NormKind.RMS, GeluKind.TANH,
                LossKind.SIGMOID, 0f);
        long seed = System.nanoTime();
        System.err.println("RecordedStepTest seed " + seed);
        int[] sizes = {4, 4, 4, 3, 4, 4, 4};   // the short batch at update 4; an evaluation before update 6
        List<BatchSource.Batch> batches = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(seed);
        for (int n : sizes) {
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = r.nextInt(c.classes());
            batches.add(new BatchSource.Batch(Check.uniform(r.nextLong(), n * 3 * 8 * 8, -1, 1), labels));
        }
        float[] evalImages = Check.uniform(seed + 7, 5 * 3 * 8 * 8, -1, 1);
        AdamW.Config oc = new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.05f, 0.1f, 1f);
        for (CudaBackend be : devices) {
            double[][] eager = new double[2][sizes.length], recorded = new double[2][sizes.length];
            float[] eagerParams, recordedParams;
            try (ViT vit = new ViT(be, c); AdamW opt = new AdamW(be, vit, oc)) {
                Init.init(be, vit.layout(), vit.params(), seed);
                float[] p0 = be.download(vit.params());
                for (int s = 0; s < sizes.length; s++) {   // eager: the learner's work by hand
                    BatchSource.Batch b = batches.get(s);
                    Tensor images = be.allocate(b.labels().length, 3, 8, 8), targets = be.allocate(b.labels().length, c.classes());
                    be.upload(images, b.images());
                    be.upload(targets, vit22b.eval.OneHot.of(b.labels(), c.classes()));
                    eager[0][s] = vit.forwardBackward(images, targets);
                    eager[1][s] = opt.step(lr(s));
                    be.free(images);
                    be.free(targets);
                }
                eagerParams = be.download(vit.params());

                be.upload(vit.params(), p0);
                try (AdamW opt2 = new AdamW(be, vit, oc);
                     ViTLearner learner = new ViTLearner(vit, opt2)) {
                    for (int s = 0; s < sizes.length; s++) {
                        if (s == 5) evaluate(be, vit, evalImages);
                        recorded[0][s] = learner.update(List.of(batches.get(s)), lr(s));
                        recorded[1][s] = learner.gradNorm();
                    }
                    // recorded after update 1, replayed at 2 and 3; the short batch 4 and the full one after it
                    // reallocate the batch buffers (eager, recorded again); the evaluation voids update 5's
                    // recording: 6 eager, 7 a replay
                    assertEquals(3, learner.replays(), "updates that ran as a replay on " + be.name());
                }
                recordedParams = be.download(vit.params());
            }
            for (int s = 0; s < sizes.length; s++) {
                System.err.printf("%s update %d: loss eager %.7f recorded %.7f, norm %.6f %.6f%n", be.name(), s + 1,
                        eager[0][s], recorded[0][s], eager[1][s], recorded[1][s]);
                assertEquals(eager[0][s], recorded[0][s], 1e-5 * Math.abs(eager[0][s]), "loss of update " + (s + 1));
                assertEquals(eager[1][s], recorded[1][s], 1e-5 * eager[1][s], "gradient norm of update " + (s + 1));
            }
            Check.assertClose("parameters after " + sizes.length + " updates, recorded vs eager on " + be.name(),
                    recordedParams, Check.toDouble(eagerParams), 1e-5);
        }
    }

    private static float lr(int s) { return 2e-3f * (1 + s % 3); }

    /** A forward pass at another batch size (as a periodic evaluation does): reallocates the activations. */
    private static void evaluate(CudaBackend be, ViT vit, float[] images) {
        ModelConfig c = vit.config();
        Tensor t = be.allocate(images.length / (3 * 8 * 8), 3, 8, 8);
        be.upload(t, images);
        be.download(vit.forward(t));
        be.free(t);
    }
}
