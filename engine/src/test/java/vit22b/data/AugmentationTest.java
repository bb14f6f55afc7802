package vit22b.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class AugmentationTest {
    static Image randomImage(long seed, int c, int h, int w) { return ImagesTest.randomImage(seed, c, h, w); }

    @Test void inceptionWindowsRespectAreaAndAspect() {
        SplittableRandom r = new SplittableRandom(1);
        int h = 60, w = 90;
        double minFrac = 1, maxFrac = 0;
        for (int t = 0; t < 3000; t++) {
            int[] win = Augmentation.inceptionWindow(h, w, 0.08, 1.0, r);
            int top = win[0], left = win[1], ch = win[2], cw = win[3];
            assertTrue(top >= 0 && left >= 0 && ch > 0 && cw > 0 && top + ch <= h && left + cw <= w);
            double frac = (double) ch * cw / (h * w), aspect = (double) cw / ch;
            minFrac = Math.min(minFrac, frac);
            maxFrac = Math.max(maxFrac, frac);
            // rounding each side to whole pixels moves area and aspect a little
            assertTrue(frac > 0.08 * 0.8 && frac <= 1, "area fraction " + frac);
            assertTrue(aspect > 0.75 * 0.9 && aspect < 4.0 / 3 * 1.1, "aspect " + aspect);
        }
        assertTrue(minFrac < 0.12 && maxFrac > 0.6, "fractions span [" + minFrac + ", " + maxFrac + "]");
    }

    @Test void minimumAreaIsHonoured() {
        SplittableRandom r = new SplittableRandom(2);
        for (int t = 0; t < 1000; t++) {
            int[] win = Augmentation.inceptionWindow(28, 28, 0.5, 1.0, r);
            assertTrue(win[2] * win[3] >= 0.5 * 784 * 0.85, "window " + win[2] + "x" + win[3]);
        }
    }

    @Test void fallbackIsTheCentralWindowOfClampedAspect() {
        // A 10 x 40 image cannot hold a full-area window of aspect <= 4/3: every try fails.
        int[] win = Augmentation.inceptionWindow(10, 40, 1.0, 1.0, new SplittableRandom(3));
        assertArrayEquals(new int[] {0, 13, 10, 13}, win);   // width round(10 * 4/3) = 13, left (40-13)/2
        win = Augmentation.inceptionWindow(40, 10, 1.0, 1.0, new SplittableRandom(3));
        assertArrayEquals(new int[] {13, 0, 13, 10}, win);
    }

    @Test void fullAreaCropOfASquareImageIsAResize() {
        Image img = randomImage(4, 3, 20, 20);
        Augmentation a = Augmentation.training(12, 3, 1.0, false);
        assertArrayEquals(Images.resize(img, 12, 12).pixels(), a.apply(img, new SplittableRandom(5)).pixels());
    }

    @Test void evaluationIsResizeAndCenterCrop() {
        Image img = randomImage(6, 3, 30, 45);
        Augmentation a = Augmentation.evaluation(16, 3);
        Image out = a.apply(img, null);
        assertArrayEquals(Images.resizeShorterCenterCrop(img, 16).pixels(), out.pixels());
        Image same = randomImage(7, 1, 16, 16);
        assertArrayEquals(same.pixels(), Augmentation.evaluation(16, 1).apply(same, null).pixels());
    }

    @Test void flipIsExactMirrorAboutHalfTheTime() {
        Image img = randomImage(8, 3, 24, 24);
        Augmentation a = Augmentation.trainingWithoutCrop(24, 3, true);
        Image mirrored = Images.flipHorizontal(img);
        int flips = 0;
        for (int s = 0; s < 400; s++) {
            Image out = a.apply(img, new SplittableRandom(s));
            boolean plain = java.util.Arrays.equals(out.pixels(), img.pixels());
            boolean flip = java.util.Arrays.equals(out.pixels(), mirrored.pixels());
            assertTrue(plain ^ flip);
            if (flip) flips++;
        }
        assertTrue(flips > 150 && flips < 250, flips + " flips of 400");
        Augmentation noFlip = Augmentation.trainingWithoutCrop(24, 3, false);
        for (int s = 0; s < 20; s++) assertArrayEquals(img.pixels(), noFlip.apply(img, new SplittableRandom(s)).pixels());
    }

    @Test void outputShapeChannelsAndDeterminism() {
        Image rgb = randomImage(9, 3, 37, 50);
        Augmentation gray = Augmentation.training(16, 1, 0.08, true);
        Image a = gray.apply(rgb, new SplittableRandom(11)), b = gray.apply(rgb, new SplittableRandom(11));
        assertEquals(1, a.channels());
        assertEquals(16, a.height());
        assertEquals(16, a.width());
        assertArrayEquals(a.pixels(), b.pixels());
        Image c = gray.apply(rgb, new SplittableRandom(12));
        assertFalse(java.util.Arrays.equals(a.pixels(), c.pixels()));
        Image g = Augmentation.training(8, 3, 0.3, true).apply(randomImage(10, 1, 28, 28), new SplittableRandom(1));
        assertEquals(3, g.channels());
        assertArrayEquals(java.util.Arrays.copyOfRange(g.pixels(), 0, 64), java.util.Arrays.copyOfRange(g.pixels(), 128, 192));
    }

    @Test void badSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Augmentation.training(16, 3, 0, true));
        assertThrows(IllegalArgumentException.class, () -> Augmentation.training(16, 3, 1.5, true));
        assertThrows(IllegalArgumentException.class, () -> Augmentation.evaluation(0, 3));
        assertThrows(IllegalArgumentException.class, () -> Augmentation.evaluation(16, 2));
        assertThrows(IllegalArgumentException.class,
                () -> Augmentation.training(16, 3, 0.5, false).apply(randomImage(1, 3, 20, 20), null));
    }
}
