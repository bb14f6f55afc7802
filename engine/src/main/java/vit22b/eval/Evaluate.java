package vit22b.eval;

import java.io.IOException;

import vit22b.backend.Backend;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/** Runs a model over an evaluation set in batches: accuracy and loss, or frozen features. */
public final class Evaluate {
    private Evaluate() {}

    /** Top-1 accuracy and mean loss (the model's loss kind, one-hot targets) over {@code count} scored examples. */
    public record Score(double accuracy, double loss, long count) {}

    /**
     * Scores the examples a batch at a time: a streamed set is decoded one batch ahead of the
     * model and never held whole. Unreadable images left out (skip-bad) do not count.
     */
    public static Score score(ViT model, EvalImages data, int batch) throws IOException {
        ModelConfig c = model.config();
        check(c, data.channels(), data.size(), data.count());
        if (batch <= 0) throw new IllegalArgumentException("evaluation batch size must be positive, got " + batch);
        Backend be = model.backend();
        int classes = c.classes();
        long correct = 0, scored = 0;
        double lossSum = 0;
        for (long start = 0; start < data.count(); start += batch) {
            EvalImages.Chunk chunk = data.read(start, batch);
            int b = chunk.count();
            if (b == 0) continue;
            Tensor images = be.allocate(b, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = be.allocate(b, classes);
            Tensor dlogits = null;
            try {
                be.upload(images, chunk.pixels());
                be.upload(targets, OneHot.of(chunk.labels(), classes));
                Tensor logits = model.forward(images);
                dlogits = be.allocate(logits.dtype(), logits.shape());   // the loss writes it in the logits' type (bf16 on cuda)
                lossSum += be.lossForwardBackward(logits, targets, dlogits, c.loss()) * b;
                float[] l = be.download(logits);
                for (int i = 0; i < b; i++) if (argmax(l, i * classes, classes) == chunk.labels()[i]) correct++;
                scored += b;
            } finally {
                be.free(images);
                be.free(targets);
                if (dlogits != null) be.free(dlogits);
            }
        }
        if (scored == 0) throw new IOException("no readable image among the " + data.count() + " of the evaluation set");
        return new Score((double) correct / scored, lossSum / scored, scored);
    }

    /** The MAP head's pooled features (n x D, row-major) of every image. */
    public static float[] features(ViT model, LabeledImages data, int batch) {
        ModelConfig c = model.config();
        check(c, data.channels(), data.size(), data.labels().length);
        Backend be = model.backend();
        int per = c.channels() * c.imageSize() * c.imageSize(), d = c.width();
        int n = data.labels().length;
        float[] out = new float[Math.multiplyExact(n, d)];
        for (int start = 0; start < n; start += batch) {
            int b = Math.min(batch, n - start);
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

    private static void check(ModelConfig c, int channels, int size, long count) {
        if (channels != c.channels() || size != c.imageSize())
            throw new IllegalArgumentException("images are " + channels + " x " + size + " x " + size
                    + " but model '" + c.name() + "' takes " + c.channels() + " x " + c.imageSize() + " x " + c.imageSize()
                    + "; resize the data or fine-tune the model at this resolution");
        if (count == 0) throw new IllegalArgumentException("the evaluation set is empty");
    }
}
