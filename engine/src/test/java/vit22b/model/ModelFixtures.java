package vit22b.model;

import java.util.SplittableRandom;

import vit22b.testing.Check;

/** Random parameters, images and targets for whole-model tests (seeded). */
public final class ModelFixtures {
    private ModelFixtures() {}

    /**
     * Every parameter random, the classifier included (Init zeroes it): matrices normal with
     * std 1/sqrt(fan_in), norm scales around 1, other vectors normal(0.3), so activations stay O(1).
     */
    public static float[] randomParams(ParamLayout layout, long seed) {
        float[] p = new float[(int) layout.total()];
        SplittableRandom r = new SplittableRandom(seed);
        for (ParamLayout.Entry e : layout.entries()) {
            int[] s = e.shape();
            int size = (int) e.size();
            boolean scale = e.name().endsWith("norm.weight");
            boolean matrix = s.length >= 2 && e.name().endsWith("weight");
            double std = scale ? 0.2 : matrix ? 1 / Math.sqrt(size / s[0]) : 0.3;
            for (int i = 0; i < size; i++)
                p[(int) e.offset() + i] = (float) ((scale ? 1 : 0) + std * Check.gaussian(r));
        }
        return p;
    }

    public static float[] images(ModelConfig c, int batch, long seed) {
        return Check.uniform(seed, batch * c.channels() * c.imageSize() * c.imageSize(), -1, 1);
    }

    /** Multi-hot in {0, 1} for sigmoid loss, one-hot for softmax. */
    public static float[] targets(ModelConfig c, int batch, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int k = c.classes();
        float[] t = new float[batch * k];
        for (int b = 0; b < batch; b++) {
            if (c.loss() == LossKind.SOFTMAX) t[b * k + r.nextInt(k)] = 1;
            else for (int j = 0; j < k; j++) t[b * k + j] = r.nextBoolean() ? 1 : 0;
        }
        return t;
    }

    /** A block variant from "paper" or '+'-joined "no-qk-norm", "sequential", "biases". */
    public static Variant variant(String s) {
        Variant v = Variant.PAPER;
        for (String part : s.split("\\+")) {
            switch (part.trim()) {
                case "paper" -> { }
                case "no-qk-norm" -> v = v.withQkNorm(false);
                case "sequential" -> v = v.withParallel(false);
                case "biases" -> v = v.withBiases(true);
                default -> throw new IllegalArgumentException("unknown variant part '" + part + "'");
            }
        }
        return v;
    }
}
