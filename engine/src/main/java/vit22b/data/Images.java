package vit22b.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Image decoding (PNG/JPEG through ImageIO) and the geometric operations the data pipeline
 * needs: channel conversion, resizing, crops, flips. All operations return new images.
 *
 * <p>Resizing is PIL's anti-aliased resampling ({@link Resample}): bilinear for the training
 * crop, bicubic for evaluation, as timm's transforms do.
 */
public final class Images {
    private Images() {}

    static {
        // Decode from memory; ImageIO's default disk cache only slows small images down.
        ImageIO.setUseCache(false);
    }

    /** ITU-R BT.601 luma weights, used to turn RGB into one channel. */
    static final float LUMA_R = 0.299f, LUMA_G = 0.587f, LUMA_B = 0.114f;

    /** 8-bit value to the model's [-1, 1] range. */
    public static float unit(int v) { return v / 127.5f - 1f; }

    /** Decodes a PNG or JPEG file into an image with {@code channels} channels (1 or 3). */
    public static Image read(Path path, int channels) throws IOException {
        checkChannels(channels);
        return convert(readNative(path), channels);
    }

    /** Decodes a PNG or JPEG file keeping its own channels: 1 for gray images, 3 otherwise. */
    public static Image readNative(Path path) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new IOException("could not read image " + path + ": " + e, e);
        }
        return decodeNative(bytes, path.toString());
    }

    /**
     * The most pixels an image may declare: its header is read first, so that a small file
     * claiming, say, 30000 x 30000 pixels is refused instead of exhausting the heap.
     */
    public static final long MAX_PIXELS = 1L << 26;   // 64 megapixels, 8192 x 8192

    /**
     * Decodes in-memory PNG/JPEG bytes keeping their channels ({@code name} is used in errors
     * only). The size in the header is checked against {@link #MAX_PIXELS} before any pixel is
     * decoded, and a file the decoder warns about (a JPEG cut short decodes to grey without an
     * exception) is an error, not a silently wrong image.
     */
    public static Image decodeNative(byte[] bytes, String name) throws IOException {
        BufferedImage img;
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            ImageReader reader = reader(in, name);
            try {
                reader.setInput(in, true, true);
                long w = reader.getWidth(0), h = reader.getHeight(0);
                if (w * h > MAX_PIXELS)
                    throw new IOException("image " + name + " declares " + w + " x " + h + " pixels, over the budget of "
                            + MAX_PIXELS + "; shrink it first (or it is corrupt)");
                List<String> warnings = new ArrayList<>();
                reader.addIIOReadWarningListener((src, message) -> {
                    if (!message.startsWith(NO_CMYK_PROFILE)) warnings.add(message);
                });
                img = reader.read(0);
                if (!warnings.isEmpty())
                    throw new IOException("image " + name + " is damaged (" + warnings.getFirst() + "); replace it, or pass "
                            + "--skip-bad to skip such images");
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("image " + name)) throw e;
            throw new IOException("could not decode image " + name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IOException("could not decode image " + name + ": " + e, e);
        }
        return fromBuffered(img);
    }

    /** TwelveMonkeys' JPEG reader, which converts CMYK/YCCK (Adobe) JPEGs; the JDK's garbles their colours. */
    static final String CMYK_JPEG_READER = "com.twelvemonkeys.imageio.plugins.jpeg.JPEGImageReader";

    /**
     * TwelveMonkeys' notice that a CMYK JPEG without an embedded profile is converted with a
     * generic one: the normal case (not damage), and the conversion the tests check.
     */
    static final String NO_CMYK_PROFILE = "No embedded ICC color profile";

    /**
     * The reader for the stream: for JPEG, TwelveMonkeys' (whatever order the plugin registry
     * gives), and an error if it is missing from the class path rather than wrong colours.
     */
    private static ImageReader reader(ImageInputStream in, String name) throws IOException {
        Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
        if (!readers.hasNext())
            throw new IOException("could not decode image " + name + ": not a PNG or JPEG file ImageIO can read");
        List<ImageReader> all = new ArrayList<>();
        readers.forEachRemaining(all::add);
        ImageReader chosen = all.getFirst();
        if ("jpeg".equalsIgnoreCase(chosen.getFormatName())) {
            chosen = all.stream().filter(r -> r.getClass().getName().equals(CMYK_JPEG_READER)).findFirst()
                    .orElseThrow(() -> new IOException("cannot decode JPEG " + name + " correctly: TwelveMonkeys' "
                            + "imageio-jpeg is not on the class path (use the packaged vit launcher or its lib/)"));
        }
        for (ImageReader r : all) if (r != chosen) r.dispose();
        return chosen;
    }

    /**
     * A BufferedImage as a 1-channel (gray sources) or 3-channel (everything else) image; alpha
     * is dropped. Gray rasters are read directly: getRGB would apply a colour-space conversion
     * that changes the values of linear-gray images.
     */
    public static Image fromBuffered(BufferedImage img) {
        int h = img.getHeight(), w = img.getWidth();
        var cm = img.getColorModel();
        boolean gray = cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY
                && cm.getNumColorComponents() == 1;
        if (gray) {
            Raster r = img.getRaster();
            double max = (1L << cm.getComponentSize(0)) - 1;
            float[] px = new float[h * w];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    px[y * w + x] = (float) (r.getSample(x, y, 0) / max * 2 - 1);
            return new Image(1, h, w, px);
        }
        float[] px = new float[3 * h * w];
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                int argb = row[x];
                px[y * w + x] = unit((argb >> 16) & 0xff);
                px[(h + y) * w + x] = unit((argb >> 8) & 0xff);
                px[(2 * h + y) * w + x] = unit(argb & 0xff);
            }
        }
        return new Image(3, h, w, px);
    }

    /** Unsigned bytes laid out C x H x W starting at {@code offset}, scaled to [-1, 1]. */
    public static Image fromBytesChw(byte[] data, int offset, int channels, int height, int width) {
        float[] px = new float[channels * height * width];
        for (int i = 0; i < px.length; i++) px[i] = unit(data[offset + i] & 0xff);
        return new Image(channels, height, width, px);
    }

    /** Same image with the wanted channel count: RGB to gray by luma, gray replicated to RGB. */
    public static Image convert(Image img, int channels) {
        checkChannels(channels);
        if (img.channels() == channels) return img;
        int hw = img.height() * img.width();
        float[] src = img.pixels();
        if (img.channels() == 3 && channels == 1) {
            float[] px = new float[hw];
            for (int i = 0; i < hw; i++) px[i] = LUMA_R * src[i] + LUMA_G * src[hw + i] + LUMA_B * src[2 * hw + i];
            return new Image(1, img.height(), img.width(), px);
        }
        if (img.channels() == 1 && channels == 3) {
            float[] px = new float[3 * hw];
            for (int c = 0; c < 3; c++) System.arraycopy(src, 0, px, c * hw, hw);
            return new Image(3, img.height(), img.width(), px);
        }
        throw new IllegalArgumentException("cannot convert a " + img.channels() + "-channel image to "
                + channels + " channels (supported: 1 and 3)");
    }

    /** Anti-aliased bilinear resize of the whole image to outH x outW (PIL's BILINEAR). */
    public static Image resize(Image img, int outH, int outW) {
        if (img.height() == outH && img.width() == outW) return img;
        return cropResize(img, 0, 0, img.height(), img.width(), outH, outW);
    }

    /**
     * The window (top, left, h, w) resampled to outH x outW with PIL's anti-aliased BILINEAR
     * filter, as {@code img.resize((outW, outH), BILINEAR, box=(left, top, left + w, top + h))}:
     * the inception crop of torchvision/timm's RandomResizedCrop.
     */
    public static Image cropResize(Image img, int top, int left, int h, int w, int outH, int outW) {
        checkWindow(img, top, left, h, w);
        return Resample.resize(img, top, left, h, w, outH, outW, Resample.Filter.BILINEAR);
    }

    /** The h x w window whose top-left corner is (top, left). */
    public static Image crop(Image img, int top, int left, int h, int w) {
        checkWindow(img, top, left, h, w);
        int C = img.channels(), H = img.height(), W = img.width();
        float[] out = new float[C * h * w];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < h; y++)
                System.arraycopy(img.pixels(), (c * H + top + y) * W + left, out, (c * h + y) * w, w);
        return new Image(C, h, w, out);
    }

    /** The central h x w window (offsets rounded down). */
    public static Image centerCrop(Image img, int h, int w) {
        if (h > img.height() || w > img.width())
            throw new IllegalArgumentException("center crop " + h + "x" + w + " is larger than the image "
                    + img.height() + "x" + img.width());
        if (h == img.height() && w == img.width()) return img;
        return crop(img, (img.height() - h) / 2, (img.width() - w) / 2, h, w);
    }

    /**
     * Evaluation transform: resize so the shorter side is {@code size} (PIL's anti-aliased
     * BICUBIC, timm's evaluation interpolation; aspect ratio kept, the longer side rounded), then
     * take the central size x size crop. An image already size x size is returned as is.
     */
    public static Image resizeShorterCenterCrop(Image img, int size) {
        if (size <= 0) throw new IllegalArgumentException("size must be positive, got " + size);
        int h = img.height(), w = img.width();
        if (h == size && w == size) return img;
        int nh, nw;
        if (h <= w) {
            nh = size;
            nw = Math.max(size, (int) Math.round((double) w * size / h));
        } else {
            nw = size;
            nh = Math.max(size, (int) Math.round((double) h * size / w));
        }
        return centerCrop(Resample.resize(img, 0, 0, h, w, nh, nw, Resample.Filter.BICUBIC), size, size);
    }

    /** Mirror left-right. */
    public static Image flipHorizontal(Image img) {
        int C = img.channels(), H = img.height(), W = img.width();
        float[] src = img.pixels(), out = new float[src.length];
        for (int r = 0; r < C * H; r++)
            for (int x = 0; x < W; x++) out[r * W + x] = src[r * W + W - 1 - x];
        return new Image(C, H, W, out);
    }

    private static void checkChannels(int channels) {
        if (channels != 1 && channels != 3)
            throw new IllegalArgumentException("channels must be 1 (gray) or 3 (RGB), got " + channels);
    }

    private static void checkWindow(Image img, int top, int left, int h, int w) {
        if (h <= 0 || w <= 0 || top < 0 || left < 0 || top + h > img.height() || left + w > img.width())
            throw new IllegalArgumentException("window (top " + top + ", left " + left + ", " + h + "x" + w
                    + ") does not fit in a " + img.height() + "x" + img.width() + " image");
    }
}
