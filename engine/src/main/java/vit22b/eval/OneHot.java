package vit22b.eval;

/** One-hot target rows for the loss. */
public final class OneHot {
    private OneHot() {}

    public static float[] of(int[] labels, int classes) {
        float[] t = new float[labels.length * classes];
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes)
                throw new IllegalArgumentException("label " + labels[i] + " is outside [0, " + classes
                        + "); the model's class count does not fit the data");
            t[i * classes + labels[i]] = 1f;
        }
        return t;
    }
}
