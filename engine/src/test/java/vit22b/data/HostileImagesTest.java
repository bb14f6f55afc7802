package vit22b.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.zip.CRC32;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;

/** Images a hostile or unlucky user has: cut short, or declaring more pixels than memory holds. */
class HostileImagesTest {

    static byte[] encode(String format, int w, int h, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) img.setRGB(x, y, (x * 4 + r.nextInt(32)) << 16 | (y * 4) << 8 | r.nextInt(256));
        var out = new ByteArrayOutputStream();
        ImageIO.write(img, format, out);
        return out.toByteArray();
    }

    @Test void aJpegCutShortIsAnErrorNotAGreyImage() throws IOException {
        byte[] jpeg = encode("jpg", 64, 64, 3);
        assertEquals(64, Images.decodeNative(jpeg, "whole.jpg").width());
        byte[] cut = Arrays.copyOf(jpeg, jpeg.length * 6 / 10);
        var e = assertThrows(IOException.class, () -> Images.decodeNative(cut, "cut.jpg"));
        assertTrue(e.getMessage().contains("cut.jpg") && e.getMessage().contains("--skip-bad"), e.getMessage());
    }

    @Test void aPngCutShortIsAnError() throws IOException {
        byte[] png = encode("png", 64, 64, 4);
        byte[] cut = Arrays.copyOf(png, png.length / 2);
        var e = assertThrows(IOException.class, () -> Images.decodeNative(cut, "cut.png"));
        assertTrue(e.getMessage().contains("cut.png"), e.getMessage());
    }

    @Test void aSmallPngDeclaringHugeDimensionsIsRefusedBeforeDecoding() throws IOException {
        byte[] png = encode("png", 8, 8, 5);
        // IHDR starts at byte 8: length(4) "IHDR"(4) width(4) height(4) ... CRC over type + data (17 bytes)
        ByteBuffer b = ByteBuffer.wrap(png);
        b.putInt(16, 30000).putInt(20, 30000);
        CRC32 crc = new CRC32();
        crc.update(png, 12, 17);
        b.putInt(29, (int) crc.getValue());
        var e = assertThrows(IOException.class, () -> Images.decodeNative(png, "bomb.png"));
        assertTrue(e.getMessage().contains("bomb.png") && e.getMessage().contains("30000 x 30000"), e.getMessage());
    }
}
