package vit22b.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.SplittableRandom;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

import org.junit.jupiter.api.Test;

/**
 * CMYK and YCCK JPEGs as Photoshop writes them (an Adobe APP14 marker; CMYK samples stored
 * inverted) decode to the RGB colours they were made from. The files are built here: four
 * random RGB blocks go through the naive RGB to CMYK conversion, are stored as four raw JPEG
 * components (and for YCCK, Y/Cb/Cr of the inverted C, M, Y plus K, as libjpeg does), and an
 * APP14 marker naming the transform is spliced in after SOI.
 */
class CmykJpegTest {
    static final int SIDE = 32, BLOCK = 16;
    /** JPEG at quality 0.95 moves flat 16x16 blocks' centres by a few levels; wrong handling moves them by 100+. */
    static final int TOLERANCE = 12;

    @Test void adobeCmykJpegDecodesToItsSourceColours() throws IOException { check(0); }

    @Test void adobeYcckJpegDecodesToItsSourceColours() throws IOException { check(2); }

    private static void check(int transform) throws IOException {
        long seed = new SplittableRandom().nextLong();
        System.out.println("CmykJpegTest transform " + transform + " seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        int[][] rgb = new int[4][3];
        for (int[] c : rgb) for (int k = 0; k < 3; k++) c[k] = 30 + r.nextInt(200);
        byte[] jpeg = adobeJpeg(rgb, transform);
        Image img = Images.decodeNative(jpeg, "adobe.jpg");
        assertEquals(3, img.channels());
        for (int b = 0; b < 4; b++) {
            int y = (b / 2) * BLOCK + BLOCK / 2, x = (b % 2) * BLOCK + BLOCK / 2;
            for (int c = 0; c < 3; c++) {
                int got = Math.round((img.at(c, y, x) + 1) * 127.5f);
                assertTrue(Math.abs(got - rgb[b][c]) <= TOLERANCE, "seed " + seed + " transform " + transform
                        + " block " + b + " channel " + c + ": decoded " + got + ", source " + rgb[b][c]);
            }
        }
    }

    /** Inverted (Adobe) CMYK samples of an RGB colour by the naive conversion K = 1 - max(R,G,B). */
    static int[] invertedCmyk(int[] rgb) {
        double rr = rgb[0] / 255.0, gg = rgb[1] / 255.0, bb = rgb[2] / 255.0;
        double k = 1 - Math.max(rr, Math.max(gg, bb));
        double[] cmy = {(1 - rr - k) / (1 - k), (1 - gg - k) / (1 - k), (1 - bb - k) / (1 - k)};
        return new int[] {(int) Math.round(255 * (1 - cmy[0])), (int) Math.round(255 * (1 - cmy[1])),
                (int) Math.round(255 * (1 - cmy[2])), (int) Math.round(255 * (1 - k))};
    }

    static byte[] adobeJpeg(int[][] rgb, int transform) throws IOException {
        WritableRaster raster = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, SIDE, SIDE, 4, null);
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                int[] s = invertedCmyk(rgb[(y / BLOCK) * 2 + x / BLOCK]);
                if (transform == 2) {                 // libjpeg's CMYK -> YCCK: YCbCr of (255-C, 255-M, 255-Y)
                    double R = 255 - s[0], G = 255 - s[1], B = 255 - s[2];
                    s = new int[] {clamp(0.299 * R + 0.587 * G + 0.114 * B),
                            clamp(-0.168736 * R - 0.331264 * G + 0.5 * B + 128),
                            clamp(0.5 * R - 0.418688 * G - 0.081312 * B + 128), s[3]};
                }
                raster.setPixel(x, y, s);
            }
        // The JDK writer stores a 4-band raster as four components without any colour transform.
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ImageWriteParam p = w.getDefaultWriteParam();
        p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        p.setCompressionQuality(0.95f);
        var bytes = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            w.setOutput(out);
            w.write(null, new IIOImage(raster, null, null), p);
        } finally {
            w.dispose();
        }
        byte[] plain = bytes.toByteArray();
        // APP14 "Adobe": length 14, version 100, flags 0, 0, transform (0 CMYK, 2 YCCK)
        byte[] app14 = {(byte) 0xFF, (byte) 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, (byte) transform};
        byte[] out = new byte[plain.length + app14.length];
        System.arraycopy(plain, 0, out, 0, 2);
        System.arraycopy(app14, 0, out, 2, app14.length);
        System.arraycopy(plain, 2, out, 2 + app14.length, plain.length - 2);
        return out;
    }

    private static int clamp(double v) { return (int) Math.max(0, Math.min(255, Math.round(v))); }
}
