package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import vit22b.backend.cpu.CpuBackend;
import vit22b.data.Augmentation;
import vit22b.data.Dataset;
import vit22b.data.Datasets;
import vit22b.data.Split;
import vit22b.eval.Evaluate;
import vit22b.eval.FewShot;
import vit22b.eval.LabeledImages;
import vit22b.eval.LinearProbe;
import vit22b.model.GeluKind;
import vit22b.model.Init;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ViT;

/**
 * A short run on real data: a few thousand Fashion-MNIST images, a small ViT-22B-recipe model
 * (patch 7, 16 tokens). Skipped when the dataset is not installed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FashionMnistLearnTest {
    static final Path FMNIST = Path.of("/usr/share/datasets/fashion-mnist");
    static final ModelConfig SMALL = new ModelConfig("fmnist-test", 32, 2, 64, 2, 7, 28, 1, 10,
            NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, (float) -Math.log(9));  // sigmoid prior 1/10 per class

    CpuBackend be;
    ViT trained, random;
    LabeledImages test;
    Trainer.Result result;

    @BeforeAll void train() throws IOException {
        assumeTrue(Files.isDirectory(FMNIST), "Fashion-MNIST is not installed at " + FMNIST);
        be = new CpuBackend();
        Dataset train = Datasets.first(Datasets.open(FMNIST, Split.TRAIN), 3000);
        test = LabeledImages.of(Datasets.open(FMNIST, Split.TEST), 1, 28, 1000);
        trained = new ViT(be, SMALL);
        Init.init(be, trained.layout(), trained.params(), 1);
        random = new ViT(be, SMALL);
        Init.init(be, random.layout(), random.params(), 1);
        int batch = 64;
        long steps = 150;  // 3.2 epochs
        try (AdamW opt = new AdamW(be, trained,
                new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 0.03f, 1.0f));
             var data = LoaderBatches.open(train, Augmentation.trainingWithoutCrop(28, 1, false), batch, 1, 1, false, null)) {
            var s = new Trainer.Settings(steps, batch, LrSchedule.of("rsqrt", 1e-2, steps, 15, 45), 0, 0, 0, 250);
            result = new Trainer(trained, opt, s, null, null, null, test, Map.of()).run(data);
        }
    }

    @AfterAll void close() {
        if (be == null) return;
        trained.close();
        random.close();
        be.close();
    }

    @Test void learnsWellAboveChance() {
        double acc = result.lastEval().accuracy();
        assertTrue(acc > 0.6, "test accuracy after 150 steps on 3000 images: " + acc + " (chance 0.1)");
    }

    @Test void frozenFeaturesOfTheTrainedModelBeatARandomOneForProbeAndFewShot() {
        LabeledImages pool = test.head(600);  // features from test images 0..599, scored on 600..999
        float[][] f = new float[2][], t = new float[2][];
        ViT[] models = {trained, random};
        LabeledImages rest = new LabeledImages(java.util.Arrays.copyOfRange(test.pixels(), 600 * 784, 1000 * 784),
                java.util.Arrays.copyOfRange(test.labels(), 600, 1000), 1, 28);
        double[] probe = new double[2], few = new double[2];
        for (int m = 0; m < 2; m++) {
            f[m] = Evaluate.features(models[m], pool, 200);
            t[m] = Evaluate.features(models[m], rest, 200);
            probe[m] = LinearProbe.train(f[m], pool.labels(), 32, 10, new LinearProbe.Settings(0.05, 0.9, 20, 64, 0))
                    .accuracy(t[m], rest.labels());
            few[m] = FewShot.evaluate(f[m], pool.labels(), t[m], rest.labels(), 32, 10, new int[] {10}, 3,
                    FewShot.DEFAULT_L2, 0).getFirst().mean();
        }
        assertTrue(probe[0] > probe[1] + 0.03, "linear probe: trained " + probe[0] + " vs random " + probe[1]);
        assertTrue(few[0] > few[1] + 0.03, "10-shot: trained " + few[0] + " vs random " + few[1]);
    }
}
