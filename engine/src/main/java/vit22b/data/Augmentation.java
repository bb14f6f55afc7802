package vit22b.data;

import java.util.SplittableRandom;

/**
 * Turns a dataset image into a model input of size x size x channels.
 *
 * <p>Training (the paper's recipe, from big_vision): an inception crop — a window covering a
 * uniformly drawn fraction in [minArea, maxArea] of the image with a log-uniform aspect ratio in
 * [3/4, 4/3], up to 10 tries, else a central window of the clamped aspect ratio — resized
 * bilinearly to size x size, then a horizontal flip with probability 1/2 (when {@code flip}).
 * Evaluation: resize the shorter side to size and take the central square.
 * The randomness comes only from the generator passed to {@link #apply}, so a loader that derives
 * it from (seed, epoch, example) gets the same augmentation on any thread.
 */
public record Augmentation(int size, int channels, Crop crop, double minArea, double maxArea, boolean flip) {
    /** INCEPTION: random inception crop; CENTER: resize shorter side then center crop. */
    public enum Crop { INCEPTION, CENTER }

    /** The paper's (Inception's) lower bound on the crop area fraction. */
    public static final double PAPER_MIN_AREA = 0.08;
    public static final double MIN_ASPECT = 3.0 / 4.0, MAX_ASPECT = 4.0 / 3.0;
    public static final int TRIES = 10;

    public Augmentation {
        if (size <= 0) throw new IllegalArgumentException("image size must be positive, got " + size);
        if (channels != 1 && channels != 3)
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        if (crop == Crop.INCEPTION && !(minArea > 0 && minArea <= maxArea && maxArea <= 1))
            throw new IllegalArgumentException("inception crop area range must satisfy 0 < min <= max <= 1, got ["
                    + minArea + ", " + maxArea + "]");
    }

    /** Inception crop with area fraction in [minArea, 1], then a random flip if {@code flip}. */
    public static Augmentation training(int size, int channels, double minArea, boolean flip) {
        return new Augmentation(size, channels, Crop.INCEPTION, minArea, 1.0, flip);
    }

    /** Training without the crop (resize + center crop), random flip if {@code flip}. */
    public static Augmentation trainingWithoutCrop(int size, int channels, boolean flip) {
        return new Augmentation(size, channels, Crop.CENTER, 1.0, 1.0, flip);
    }

    /** Evaluation and prediction: resize shorter side + center crop, no randomness. */
    public static Augmentation evaluation(int size, int channels) {
        return new Augmentation(size, channels, Crop.CENTER, 1.0, 1.0, false);
    }

    /** True if {@link #apply} draws from its generator (random crop or flip). */
    public boolean isRandom() { return crop == Crop.INCEPTION || flip; }

    /** The model input for {@code img}; {@code rng} may be null when {@link #isRandom()} is false. */
    public Image apply(Image img, SplittableRandom rng) {
        if (rng == null && isRandom())
            throw new IllegalArgumentException("a random augmentation (inception crop or flip) needs a generator");
        // Channel conversion is linear, so do it where the image is smaller.
        if (channels < img.channels()) img = Images.convert(img, channels);
        Image out;
        if (crop == Crop.INCEPTION) {
            int[] win = inceptionWindow(img.height(), img.width(), minArea, maxArea, rng);
            out = Images.cropResize(img, win[0], win[1], win[2], win[3], size, size);
        } else {
            out = Images.resizeShorterCenterCrop(img, size);
        }
        if (flip && rng.nextBoolean()) out = Images.flipHorizontal(out);
        return Images.convert(out, channels);
    }

    /** An inception crop window {top, left, height, width} inside an h x w image. */
    static int[] inceptionWindow(int h, int w, double minArea, double maxArea, SplittableRandom rng) {
        double area = (double) h * w;
        double logLo = StrictMath.log(MIN_ASPECT), logHi = StrictMath.log(MAX_ASPECT);   // StrictMath: same crops in every JIT tier
        for (int t = 0; t < TRIES; t++) {
            double target = area * (minArea + (maxArea - minArea) * rng.nextDouble());
            double aspect = StrictMath.exp(logLo + (logHi - logLo) * rng.nextDouble());   // width / height
            int cw = (int) Math.round(Math.sqrt(target * aspect));
            int ch = (int) Math.round(Math.sqrt(target / aspect));
            if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
                int top = rng.nextInt(h - ch + 1), left = rng.nextInt(w - cw + 1);
                return new int[] {top, left, ch, cw};
            }
        }
        // Fallback: the largest central window whose aspect ratio is within range.
        double ratio = (double) w / h;
        int cw = w, ch = h;
        if (ratio < MIN_ASPECT) ch = Math.min(h, (int) Math.round(w / MIN_ASPECT));
        else if (ratio > MAX_ASPECT) cw = Math.min(w, (int) Math.round(h * MAX_ASPECT));
        return new int[] {(h - ch) / 2, (w - cw) / 2, ch, cw};
    }
}
