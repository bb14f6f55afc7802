package vit22b.data;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * MNIST-style IDX files (gzipped or not): an images file (unsigned bytes, N x H x W) and a labels
 * file (unsigned bytes, N), held in memory. Fashion-MNIST's 60,000 training images take 47 MB.
 */
public final class IdxDataset implements Dataset {
    /** Where Debian's dataset-fashion-mnist package installs the files. */
    public static final Path DEBIAN_FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    public static final List<String> FASHION_MNIST_CLASSES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    public static final List<String> DIGIT_CLASSES = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    private static final int UBYTE = 0x08;

    private final Path imagesPath;
    private final byte[] pixels, labels;
    private final int n, height, width;
    private final List<String> classes;

    private IdxDataset(Path imagesPath, byte[] pixels, byte[] labels, int n, int height, int width, List<String> classes) {
        this.imagesPath = imagesPath;
        this.pixels = pixels;
        this.labels = labels;
        this.n = n;
        this.height = height;
        this.width = width;
        this.classes = classes;
    }

    /**
     * Reads an images file and a labels file. Every label must be below classes.size().
     * Gzip is recognised by its magic bytes, not by the file name.
     */
    public static IdxDataset read(Path images, Path labels, List<String> classes) throws IOException {
        Idx img = readIdx(images);
        if (img.dims.length != 3)
            throw new IOException("IDX images file " + images + " has " + img.dims.length
                    + " dimensions, expected 3 (count x height x width)");
        Idx lab = readIdx(labels);
        if (lab.dims.length != 1)
            throw new IOException("IDX labels file " + labels + " has " + lab.dims.length + " dimensions, expected 1");
        if (img.dims[0] != lab.dims[0])
            throw new IOException("IDX images file " + images + " holds " + img.dims[0] + " images but labels file "
                    + labels + " holds " + lab.dims[0] + " labels");
        for (int i = 0; i < lab.data.length; i++) {
            int l = lab.data[i] & 0xff;
            if (l >= classes.size())
                throw new IOException("IDX labels file " + labels + ": label " + l + " at index " + i
                        + " is out of range for " + classes.size() + " classes");
        }
        return new IdxDataset(images, img.data, lab.data, img.dims[0], img.dims[1], img.dims[2], List.copyOf(classes));
    }

    /**
     * The standard file names in a directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte, with
     * '-' or '.' before "idx", optionally ending in .gz.
     */
    public static IdxDataset open(Path dir, Split split, List<String> classes) throws IOException {
        String prefix = split == Split.TRAIN ? "train" : "t10k";
        return read(find(dir, prefix, "images", "idx3"), find(dir, prefix, "labels", "idx1"), classes);
    }

    /** Fashion-MNIST from a directory (such as {@link #DEBIAN_FASHION_MNIST}), with its class names. */
    public static IdxDataset fashionMnist(Path dir, Split split) throws IOException {
        return open(dir, split, FASHION_MNIST_CLASSES);
    }

    /** True if the directory holds the IDX files of the split. */
    public static boolean present(Path dir, Split split) {
        try {
            String prefix = split == Split.TRAIN ? "train" : "t10k";
            find(dir, prefix, "images", "idx3");
            find(dir, prefix, "labels", "idx1");
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static Path find(Path dir, String prefix, String kind, String idx) throws IOException {
        List<String> tried = new ArrayList<>();
        for (String sep : new String[] {"-", "."})
            for (String gz : new String[] {".gz", ""}) {
                String name = prefix + "-" + kind + sep + idx + "-ubyte" + gz;
                tried.add(name);
                Path p = dir.resolve(name);
                if (Files.isRegularFile(p)) return p;
            }
        throw new IOException("no IDX " + kind + " file in " + dir + " (looked for " + String.join(", ", tried)
                + "); for Fashion-MNIST install Debian's dataset-fashion-mnist or pass the directory holding the files");
    }

    private record Idx(int[] dims, byte[] data) {}

    /** Parses one IDX file of unsigned bytes; every problem is reported with the path. */
    private static Idx readIdx(Path path) throws IOException {
        byte[] raw = readMaybeGzipped(path);
        if (raw.length < 4)
            throw new IOException("IDX file " + path + " is truncated: " + raw.length + " bytes, not even a header");
        if (raw[0] != 0 || raw[1] != 0)
            throw new IOException(String.format("IDX file %s has a wrong magic number 0x%02x%02x%02x%02x: not an IDX file",
                    path, raw[0], raw[1], raw[2], raw[3]));
        if ((raw[2] & 0xff) != UBYTE)
            throw new IOException(String.format("IDX file %s has data type 0x%02x; only unsigned bytes (0x08) are supported",
                    path, raw[2]));
        int nd = raw[3] & 0xff;
        if (nd < 1 || raw.length < 4 + 4 * nd)
            throw new IOException("IDX file " + path + " has a truncated or invalid header (" + nd + " dimensions)");
        ByteBuffer b = ByteBuffer.wrap(raw, 4, 4 * nd);   // big-endian, as IDX is
        int[] dims = new int[nd];
        long count = 1;
        for (int i = 0; i < nd; i++) {
            dims[i] = b.getInt();
            if (dims[i] <= 0) throw new IOException("IDX file " + path + " has a non-positive dimension " + dims[i]);
            count *= dims[i];
        }
        long have = raw.length - 4L - 4L * nd;
        if (have != count)
            throw new IOException("IDX file " + path + (have < count ? " is truncated" : " has trailing bytes")
                    + ": header promises " + count + " data bytes, file holds " + have);
        byte[] data = new byte[(int) count];
        System.arraycopy(raw, 4 + 4 * nd, data, 0, data.length);
        return new Idx(dims, data);
    }

    private static byte[] readMaybeGzipped(Path path) throws IOException {
        byte[] raw;
        try {
            raw = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new IOException("could not read IDX file " + path + ": " + e, e);
        }
        if (raw.length < 2 || (raw[0] & 0xff) != 0x1f || (raw[1] & 0xff) != 0x8b) return raw;
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(raw))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length * 4);
            in.transferTo(out);
            return out.toByteArray();
        } catch (EOFException e) {
            throw new IOException("IDX file " + path + " is a truncated gzip file", e);
        } catch (IOException e) {
            throw new IOException("IDX file " + path + " is a corrupt gzip file: " + e.getMessage(), e);
        }
    }

    @Override public String name() { return imagesPath.toString(); }
    @Override public int size() { return n; }
    @Override public List<String> classes() { return classes; }
    @Override public int channels() { return 1; }
    @Override public int height() { return height; }
    @Override public int width() { return width; }

    @Override public int label(int i) {
        return labels[java.util.Objects.checkIndex(i, n)] & 0xff;
    }

    @Override public Image image(int i) {
        java.util.Objects.checkIndex(i, n);
        return Images.fromBytesChw(pixels, i * height * width, 1, height, width);
    }

    @Override public String source(int i) { return imagesPath + "#" + i; }
}
