package vit22b.cli.commands;

import java.io.IOException;
import java.io.PrintWriter;

import vit22b.backend.Backend;
import vit22b.cli.options.Streams;
import vit22b.cli.options.WeightsOptions;
import vit22b.data.Split;
import vit22b.eval.Evaluate;
import vit22b.model.ViT;

/** Features of the MAP head for a training pool and a test set (probe and few-shot). */
record FrozenFeatures(float[] train, int[] trainLabels, float[] test, int[] testLabels, int dim, int classes) {

    static FrozenFeatures of(Backend be, WeightsOptions weights, DataOptions data, int trainLimit, int testLimit, int batch,
                             PrintWriter log) throws IOException {
        try (var file = weights.open(); ViT model = file.load(be, Streams.printStream(log))) {
            var c = model.config();
            var train = data.load(Split.TRAIN, c.channels(), c.imageSize(), trainLimit, log);
            var test = data.load(Split.TEST, c.channels(), c.imageSize(), testLimit, log);
            int classes = data.open(Split.TRAIN).numClasses();
            return new FrozenFeatures(Evaluate.features(model, train, batch), train.labels(),
                    Evaluate.features(model, test, batch), test.labels(), c.width(), classes);
        }
    }
}
