package vit22b.eval;

import vit22b.backend.Backend;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/** Runs a model over an evaluation set in batches: accuracy and loss, or frozen features. */
public final class Evaluate {
    private Evaluate() {}

    /** Top-1 accuracy and mean loss (the model's loss kind, one-hot targets). */
    public record Score(double accuracy, double loss, int count) {}

    public static Score score(ViT model, LabeledImages data, int batch) {
        ModelConfig c = model.config();
        check(c, data);
        Backend be = model.backend();
        int per = c.channels() * c.imageSize() * c.imageSize(), classes = c.classes();
        long correct = 0;
        double lossSum = 0;
        for (int start = 0; start < data.count(); start += batch) {
            int b = Math.min(batch, data.count() - start);
            Tensor images = be.allocate(b, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = be.allocate(b, classes);
            Tensor dlogits = be.allocate(b, classes);
            try {
                be.upload(images, java.util.Arrays.copyOfRange(data.pixels(), start * per, (start + b) * per));
                int[] labels = java.util.Arrays.copyOfRange(data.labels(), start, start + b);
                be.upload(targets, OneHot.of(labels, classes));
                Tensor logits = model.forward(images);
                lossSum += be.lossForwardBackward(logits, targets, dlogits, c.loss()) * b;
                float[] l = be.download(logits);
                for (int i = 0; i < b; i++) if (argmax(l, i * classes, classes) == labels[i]) correct++;
            } finally {
                be.free(images);
                be.free(targets);
                be.free(dlogits);
            }
        }
        return new Score((double) correct / data.count(), lossSum / data.count(), data.count());
    }

    /** The MAP head's pooled features (n x D, row-major) of every image. */
    public static float[] features(ViT model, LabeledImages data, int batch) {
        ModelConfig c = model.config();
        check(c, data);
        Backend be = model.backend();
        int per = c.channels() * c.imageSize() * c.imageSize(), d = c.width();
        float[] out = new float[data.count() * d];
        for (int start = 0; start < data.count(); start += batch) {
            int b = Math.min(batch, data.count() - start);
            Tensor images = be.allocate(b, c.channels(), c.imageSize(), c.imageSize());
            try {
                be.upload(images, java.util.Arrays.copyOfRange(data.pixels(), start * per, (start + b) * per));
                System.arraycopy(be.download(model.features(images)), 0, out, start * d, b * d);
            } finally {
                be.free(images);
            }
        }
        return out;
    }

    static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }

    private static void check(ModelConfig c, LabeledImages data) {
        if (data.channels() != c.channels() || data.size() != c.imageSize())
            throw new IllegalArgumentException("images are " + data.channels() + " x " + data.size() + " x " + data.size()
                    + " but model '" + c.name() + "' takes " + c.channels() + " x " + c.imageSize() + " x " + c.imageSize()
                    + "; resize the data or fine-tune the model at this resolution");
        if (data.count() == 0) throw new IllegalArgumentException("the evaluation set is empty");
    }
}
