package vit22b.data;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {
    @TempDir Path dir;

    static int[][][] randomRgb(long seed, int h, int w) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][][] px = new int[3][h][w];
        for (int c = 0; c < 3; c++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) px[c][y][x] = r.nextInt(256);
        return px;
    }

    static Path writeRgb(Path file, int[][][] px, String format) throws IOException {
        int h = px[0].length, w = px[0][0].length;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++)
            img.setRGB(x, y, (px[0][y][x] << 16) | (px[1][y][x] << 8) | px[2][y][x]);
        assertTrue(ImageIO.write(img, format, file.toFile()));
        return file;
    }

    static Image randomImage(long seed, int c, int h, int w) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] px = new float[c * h * w];
        for (int i = 0; i < px.length; i++) px[i] = (float) (r.nextDouble() * 2 - 1);
        return new Image(c, h, w, px);
    }

    @Test void pngRgbDecodesExactlyToUnitRange() throws IOException {
        int[][][] px = randomRgb(1, 5, 7);
        Image img = Images.read(writeRgb(dir.resolve("a.png"), px, "png"), 3);
        assertEquals(3, img.channels());
        assertEquals(5, img.height());
        assertEquals(7, img.width());
        for (int c = 0; c < 3; c++) for (int y = 0; y < 5; y++) for (int x = 0; x < 7; x++)
            assertEquals(px[c][y][x] / 127.5 - 1, img.at(c, y, x), 1e-6);
    }

    @Test void rgbToGrayUsesLuma() throws IOException {
        int[][][] px = randomRgb(2, 4, 6);
        Image img = Images.read(writeRgb(dir.resolve("b.png"), px, "png"), 1);
        assertEquals(1, img.channels());
        for (int y = 0; y < 4; y++) for (int x = 0; x < 6; x++) {
            double luma = 0.299 * px[0][y][x] + 0.587 * px[1][y][x] + 0.114 * px[2][y][x];
            assertEquals(luma / 127.5 - 1, img.at(0, y, x), 1e-5);
        }
    }

    @Test void grayPngReadsRawValuesAndReplicatesToRgb() throws IOException {
        SplittableRandom r = new SplittableRandom(3);
        BufferedImage g = new BufferedImage(6, 3, BufferedImage.TYPE_BYTE_GRAY);
        int[][] v = new int[3][6];
        for (int y = 0; y < 3; y++) for (int x = 0; x < 6; x++) {
            v[y][x] = r.nextInt(256);
            g.getRaster().setSample(x, y, 0, v[y][x]);
        }
        Path file = dir.resolve("g.png");
        ImageIO.write(g, "png", file.toFile());
        Image one = Images.read(file, 1), three = Images.read(file, 3);
        assertEquals(1, one.channels());
        assertEquals(3, three.channels());
        for (int y = 0; y < 3; y++) for (int x = 0; x < 6; x++) {
            assertEquals(v[y][x] / 127.5 - 1, one.at(0, y, x), 1e-6);
            for (int c = 0; c < 3; c++) assertEquals(one.at(0, y, x), three.at(c, y, x));
        }
    }

    @Test void sixteenBitGrayScalesByItsDepth() throws IOException {
        BufferedImage g = new BufferedImage(3, 2, BufferedImage.TYPE_USHORT_GRAY);
        int[] v = {0, 65535, 1000, 30000, 50000, 12345};
        for (int i = 0; i < 6; i++) g.getRaster().setSample(i % 3, i / 3, 0, v[i]);
        Path file = dir.resolve("g16.png");
        ImageIO.write(g, "png", file.toFile());
        Image img = Images.read(file, 1);
        for (int i = 0; i < 6; i++) assertEquals(v[i] / 65535.0 * 2 - 1, img.at(0, i / 3, i % 3), 1e-6);
    }

    @Test void jpegDecodesCloseToSource() throws IOException {
        int[][][] px = new int[3][16][16];
        for (int c = 0; c < 3; c++) for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++)
            px[c][y][x] = 40 + 8 * x + c * 20;   // smooth, so JPEG loses little
        Image img = Images.read(writeRgb(dir.resolve("c.jpg"), px, "jpg"), 3);
        double maxErr = 0;
        for (int c = 0; c < 3; c++) for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++)
            maxErr = Math.max(maxErr, Math.abs(img.at(c, y, x) - (px[c][y][x] / 127.5 - 1)));
        assertTrue(maxErr < 0.15, "JPEG max error " + maxErr);
    }

    @Test void undecodableFileNamesThePath() throws IOException {
        Path bad = dir.resolve("broken.png");
        Files.write(bad, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
        IOException e = assertThrows(IOException.class, () -> Images.read(bad, 3));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("could not decode"), e.getMessage());
        Path missing = dir.resolve("missing.png");
        e = assertThrows(IOException.class, () -> Images.read(missing, 3));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test void truncatedPngFailsWithPath() throws IOException {
        Path ok = writeRgb(dir.resolve("full.png"), randomRgb(4, 32, 32), "png");
        byte[] all = Files.readAllBytes(ok);
        Path cut = dir.resolve("cut.png");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length / 2));
        IOException e = assertThrows(IOException.class, () -> Images.read(cut, 3));
        assertTrue(e.getMessage().contains(cut.toString()), e.getMessage());
    }

    @Test void downscaleByTwoIsPilsBilinear() {
        Image img = randomImage(5, 2, 8, 12);
        assertArrayEquals(ResampleTest.reference(img, 0, 0, 8, 12, 4, 6, ResampleTest.bilinear()), Images.resize(img, 4, 6).pixels(), 1e-6f);
    }

    @Test void upscalePreservesALinearRampInside() {
        int h = 6, w = 9;
        float[] px = new float[h * w];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) px[y * w + x] = 0.05f * x - 0.07f * y + 0.1f;
        Image out = Images.resize(new Image(1, h, w, px), 15, 20);
        for (int y = 0; y < 15; y++) for (int x = 0; x < 20; x++) {
            double sy = (y + 0.5) * h / 15.0 - 0.5, sx = (x + 0.5) * w / 20.0 - 0.5;
            sy = Math.min(Math.max(sy, 0), h - 1);   // edge clamp
            sx = Math.min(Math.max(sx, 0), w - 1);
            assertEquals(0.05 * sx - 0.07 * sy + 0.1, out.at(0, y, x), 1e-5);
        }
    }

    @Test void sameSizeResizeAndFullCenterCropAreIdentity() {
        Image img = randomImage(6, 3, 5, 5);
        assertSame(img, Images.resize(img, 5, 5));
        assertSame(img, Images.centerCrop(img, 5, 5));
        assertSame(img, Images.resizeShorterCenterCrop(img, 5));
    }

    @Test void cropResizeIsPilsBilinearOverTheBox() {
        Image img = randomImage(7, 3, 20, 30);
        Image a = Images.cropResize(img, 3, 5, 11, 17, 8, 9);
        assertArrayEquals(ResampleTest.reference(img, 3, 5, 11, 17, 8, 9, ResampleTest.bilinear()), a.pixels(), 1e-5f);
        Image full = Images.cropResize(img, 0, 0, 20, 30, 8, 9);   // the whole image as the box: a plain resize
        assertArrayEquals(Images.resize(img, 8, 9).pixels(), full.pixels());
    }

    @Test void centerCropTakesTheMiddle() {
        Image img = randomImage(8, 2, 7, 10);
        Image out = Images.centerCrop(img, 3, 4);   // top (7-3)/2 = 2, left (10-4)/2 = 3
        for (int c = 0; c < 2; c++) for (int y = 0; y < 3; y++) for (int x = 0; x < 4; x++)
            assertEquals(img.at(c, 2 + y, 3 + x), out.at(c, y, x));
        assertThrows(IllegalArgumentException.class, () -> Images.centerCrop(img, 8, 4));
    }

    @Test void resizeShorterThenCenterCrop() {
        Image img = randomImage(9, 1, 20, 40);     // shorter side 20 -> 10: bicubic to 10x20, crop columns 5..14
        Image out = Images.resizeShorterCenterCrop(img, 10);
        assertEquals(10, out.height());
        assertEquals(10, out.width());
        float[] all = ResampleTest.reference(img, 0, 0, 20, 40, 10, 20, ResampleTest.bicubic());
        for (int y = 0; y < 10; y++) for (int x = 0; x < 10; x++)
            assertEquals(all[y * 20 + x + 5], out.at(0, y, x), 1e-5);
        Image tall = Images.resizeShorterCenterCrop(randomImage(10, 3, 37, 23), 16);
        assertEquals(16, tall.height());
        assertEquals(16, tall.width());
    }

    @Test void flipMirrorsExactly() {
        Image img = randomImage(11, 3, 4, 7);
        Image f = Images.flipHorizontal(img);
        for (int c = 0; c < 3; c++) for (int y = 0; y < 4; y++) for (int x = 0; x < 7; x++)
            assertEquals(img.at(c, y, 6 - x), f.at(c, y, x));
        assertArrayEquals(img.pixels(), Images.flipHorizontal(f).pixels());
    }

    @Test void badArgumentsAreRefused() {
        Image img = randomImage(12, 3, 4, 4);
        assertThrows(IllegalArgumentException.class, () -> Images.crop(img, 2, 0, 3, 2));
        assertThrows(IllegalArgumentException.class, () -> Images.convert(img, 2));
        assertThrows(IllegalArgumentException.class, () -> new Image(3, 4, 4, new float[5]));
    }
}
