package vit22b.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A class folder mixing gray and RGB images: an error naming the file, or converted by --channels. */
class MixedChannelsTest {
    @TempDir Path dir;

    /** train/a/0.png RGB, train/b/1.png gray (random pixels from the printed seed). */
    private int[][] make(long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        BufferedImage rgb = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
        BufferedImage gray = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_GRAY);
        int[] rgbPx = new int[16], grayPx = new int[16];
        for (int i = 0; i < 16; i++) {
            rgbPx[i] = r.nextInt(1 << 24);
            grayPx[i] = r.nextInt(256);
            rgb.setRGB(i % 4, i / 4, rgbPx[i]);
            gray.getRaster().setSample(i % 4, i / 4, 0, grayPx[i]);
        }
        Files.createDirectories(dir.resolve("train/a"));
        Files.createDirectories(dir.resolve("train/b"));
        ImageIO.write(rgb, "png", dir.resolve("train/a/0.png").toFile());
        ImageIO.write(gray, "png", dir.resolve("train/b/1.png").toFile());
        return new int[][] {rgbPx, grayPx};
    }

    @Test void aMixedFolderIsAnErrorNamingTheFileAndTheFix() throws IOException {
        make(1);
        Dataset d = Datasets.open(dir, Split.TRAIN);
        assertEquals(3, d.channels());
        d.image(0);
        var e = assertThrows(IllegalArgumentException.class, () -> d.image(1));
        assertTrue(e.getMessage().contains("1.png") && e.getMessage().contains("0.png")
                && e.getMessage().contains("--channels 1") && e.getMessage().contains("--channels 3"), e.getMessage());
        // the batch loader stops with the same message rather than building a batch
        try (var loader = new BatchLoader(d, Augmentation.evaluation(4, 3),
                BatchLoader.Options.evaluation(2).withWorkers(0, 1))) {
            var le = assertThrows(IllegalArgumentException.class, loader::next);
            assertTrue(le.getMessage().contains("1.png"), le.getMessage());
        }
    }

    @Test void channelsOneOrThreeConvertsEveryImage() throws IOException {
        long seed = new SplittableRandom().nextLong();
        System.out.println("MixedChannelsTest seed " + seed);
        int[][] px = make(seed);
        Dataset gray = Datasets.open(dir, Split.TRAIN, 1), rgb = Datasets.open(dir, Split.TRAIN, 3);
        assertEquals(1, gray.channels());
        assertEquals(3, rgb.channels());
        for (int i = 0; i < 16; i++) {
            int y = i / 4, x = i % 4, p = px[0][i];
            double luma = 0.299 * (p >> 16 & 0xff) + 0.587 * (p >> 8 & 0xff) + 0.114 * (p & 0xff);
            assertEquals(luma / 127.5 - 1, gray.image(0).at(0, y, x), 1e-5, "seed " + seed);
            assertEquals(px[1][i] / 127.5 - 1, gray.image(1).at(0, y, x), 1e-5, "seed " + seed);
            for (int c = 0; c < 3; c++) {
                assertEquals(px[1][i] / 127.5 - 1, rgb.image(1).at(c, y, x), 1e-5, "seed " + seed);
                assertEquals((p >> (16 - 8 * c) & 0xff) / 127.5 - 1, rgb.image(0).at(c, y, x), 1e-5, "seed " + seed);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Datasets.open(dir, Split.TRAIN, 2));
    }
}
