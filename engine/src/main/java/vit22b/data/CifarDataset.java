package vit22b.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * CIFAR-10 binary batches: records of 1 label byte then 3072 pixel bytes (32 x 32, red plane,
 * green plane, blue plane). All files are held in memory (the training set takes 154 MB).
 */
public final class CifarDataset implements Dataset {
    public static final int SIDE = 32, RECORD = 1 + 3 * SIDE * SIDE;

    public static final List<String> CIFAR10_CLASSES = List.of(
            "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");

    private final List<Path> files;
    private final byte[][] data;      // one array per file
    private final int[] starts;       // first example index of each file
    private final int n;
    private final List<String> classes;

    private CifarDataset(List<Path> files, byte[][] data, List<String> classes) {
        this.files = files;
        this.data = data;
        this.classes = classes;
        this.starts = new int[data.length + 1];
        for (int f = 0; f < data.length; f++) starts[f + 1] = starts[f] + data[f].length / RECORD;
        this.n = starts[data.length];
    }

    /** Reads the given batch files, in order; labels must be below classes.size(). */
    public static CifarDataset read(List<Path> files, List<String> classes) throws IOException {
        if (files.isEmpty()) throw new IllegalArgumentException("no CIFAR batch files given");
        byte[][] data = new byte[files.size()][];
        for (int f = 0; f < files.size(); f++) {
            Path p = files.get(f);
            try {
                data[f] = Files.readAllBytes(p);
            } catch (IOException e) {
                throw new IOException("could not read CIFAR-10 batch " + p + ": " + e, e);
            }
            if (data[f].length == 0 || data[f].length % RECORD != 0)
                throw new IOException("CIFAR-10 batch " + p + " is truncated or not a CIFAR-10 binary batch: "
                        + data[f].length + " bytes is not a positive multiple of the " + RECORD + "-byte record");
            for (int r = 0; r < data[f].length / RECORD; r++) {
                int l = data[f][r * RECORD] & 0xff;
                if (l >= classes.size())
                    throw new IOException("CIFAR-10 batch " + p + ": label " + l + " of record " + r
                            + " is out of range for " + classes.size() + " classes (is this a CIFAR-100 file?)");
            }
        }
        return new CifarDataset(List.copyOf(files), data, List.copyOf(classes));
    }

    /**
     * The standard layout: data_batch_1..5.bin (train) or test_batch.bin (test) in {@code dir} or
     * in its cifar-10-batches-bin subdirectory; class names from batches.meta.txt when present.
     */
    public static CifarDataset open(Path dir, Split split) throws IOException {
        Path d = locate(dir);
        if (d == null)
            throw new IOException("no CIFAR-10 binary batches in " + dir
                    + " (expected data_batch_1.bin .. data_batch_5.bin and test_batch.bin, there or in cifar-10-batches-bin/)");
        List<Path> files = new ArrayList<>();
        if (split == Split.TRAIN) for (int i = 1; i <= 5; i++) files.add(d.resolve("data_batch_" + i + ".bin"));
        else files.add(d.resolve("test_batch.bin"));
        for (Path f : files)
            if (!Files.isRegularFile(f)) throw new IOException("CIFAR-10 batch " + f + " is missing");
        List<String> classes = CIFAR10_CLASSES;
        Path meta = d.resolve("batches.meta.txt");
        if (Files.isRegularFile(meta)) {
            List<String> names = Files.readAllLines(meta, StandardCharsets.UTF_8).stream()
                    .map(String::strip).filter(s -> !s.isEmpty()).toList();
            if (!names.isEmpty()) classes = names;
        }
        return read(files, classes);
    }

    /** The directory holding the batches ({@code dir} or its cifar-10-batches-bin), or null. */
    static Path locate(Path dir) {
        for (Path d : new Path[] {dir, dir.resolve("cifar-10-batches-bin")})
            if (Files.isRegularFile(d.resolve("test_batch.bin")) || Files.isRegularFile(d.resolve("data_batch_1.bin")))
                return d;
        return null;
    }

    private int file(int i) {
        Objects.checkIndex(i, n);
        int f = 0;
        while (starts[f + 1] <= i) f++;
        return f;
    }

    @Override public String name() { return files.size() == 1 ? files.getFirst().toString() : String.valueOf(files.getFirst().toAbsolutePath().getParent()); }
    @Override public int size() { return n; }
    @Override public List<String> classes() { return classes; }
    @Override public int channels() { return 3; }
    @Override public int height() { return SIDE; }
    @Override public int width() { return SIDE; }

    @Override public int label(int i) {
        int f = file(i);
        return data[f][(i - starts[f]) * RECORD] & 0xff;
    }

    @Override public Image image(int i) {
        int f = file(i);
        return Images.fromBytesChw(data[f], (i - starts[f]) * RECORD + 1, 3, SIDE, SIDE);
    }

    @Override public String source(int i) {
        int f = file(i);
        return files.get(f) + "#" + (i - starts[f]);
    }
}
