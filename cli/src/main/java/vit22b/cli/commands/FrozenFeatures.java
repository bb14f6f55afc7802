package vit22b.cli.commands;

import java.io.IOException;
import java.nio.file.Path;

import vit22b.backend.Backend;
import vit22b.data.Dataset;
import vit22b.data.Split;
import vit22b.eval.Evaluate;
import vit22b.eval.LabeledImages;
import vit22b.model.ViT;
import vit22b.train.Weights;

/** Features of the MAP head for a training pool and a test set (probe and few-shot). */
record FrozenFeatures(float[] train, int[] trainLabels, float[] test, int[] testLabels, int dim, int classes) {

    static FrozenFeatures of(Backend be, Path ckpt, String data, int trainLimit, int testLimit, int batch) throws IOException {
        try (ViT model = Weights.load(ckpt, be)) {
            var c = model.config();
            Dataset trainSet = DataPaths.open(data, Split.TRAIN);
            var train = LabeledImages.of(trainSet, c.channels(), c.imageSize(), trainLimit);
            var test = LabeledImages.of(DataPaths.open(data, Split.TEST), c.channels(), c.imageSize(), testLimit);
            int classes = trainSet.numClasses();
            return new FrozenFeatures(Evaluate.features(model, train, batch), train.labels(),
                    Evaluate.features(model, test, batch), test.labels(), c.width(), classes);
        }
    }
}
