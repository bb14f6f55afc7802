package vit22b.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/** Opening a dataset by looking at a path, and subsets of datasets. */
public final class Datasets {
    private Datasets() {}

    /**
     * Opens the split of the dataset at {@code path}: IDX files (MNIST; Fashion-MNIST class names
     * when the path mentions "fashion"), CIFAR-10 binary batches, or class folders under
     * {@code path/train} and {@code path/test} (else {@code path/val}, ImageNet's layout). Class
     * folders directly under {@code path} are refused: a run needs a test split that training
     * never sees, and a silent reuse of the training images would report training accuracy.
     */
    public static Dataset open(Path path, Split split) throws IOException { return open(path, split, FolderDataset.NATIVE); }

    /**
     * As {@link #open(Path, Split)}, every image converted to {@code channels} (1 or 3), or
     * {@link FolderDataset#NATIVE}: the dataset's own channels, which a class folder must not mix.
     */
    public static Dataset open(Path path, Split split, int channels) throws IOException {
        Dataset d = openNative(path, split, channels);
        return channels == FolderDataset.NATIVE || d.channels() == channels ? d : new Converted(d, channels);
    }

    private static Dataset openNative(Path path, Split split, int channels) throws IOException {
        if (!Files.isDirectory(path))
            throw new IOException("dataset directory " + path + " does not exist or is not a directory");
        if (IdxDataset.present(path, split)) {
            boolean fashion = path.toAbsolutePath().toString().toLowerCase(Locale.ROOT).contains("fashion");
            return IdxDataset.open(path, split, fashion ? IdxDataset.FASHION_MNIST_CLASSES : IdxDataset.DIGIT_CLASSES);
        }
        if (IdxDataset.present(path, split == Split.TRAIN ? Split.TEST : Split.TRAIN))
            throw new IOException("IDX dataset " + path + " has no " + split.name().toLowerCase(Locale.ROOT) + " split files");
        if (CifarDataset.locate(path) != null) return CifarDataset.open(path, split);
        List<String> names = split == Split.TRAIN ? List.of("train") : List.of("test", "val");
        for (String n : names)
            if (Files.isDirectory(path.resolve(n))) return FolderDataset.open(path.resolve(n), channels);
        throw new IOException("class-folder dataset " + path + " has no " + String.join("/ or ", names)
                + "/ folder: arrange it as " + path + "/train/CLASS/*.png and " + path + "/test/CLASS/*.png "
                + "(periodic evaluation holds out --val-fraction of train/ unless " + path + "/val/ exists beside test/)");
    }

    /**
     * A validation split the dataset itself provides, distinct from its test split: class
     * folders {@code path/val} (or {@code path/validation}) beside {@code path/test}. Empty for
     * IDX and CIFAR-10 files, which have none. Its class folders must be {@code train}'s: labels
     * are indices into the sorted folder names, so a missing or extra class would silently
     * relabel every class after it.
     */
    public static java.util.Optional<Dataset> validation(Path path, Dataset train) throws IOException {
        return validation(path, train, FolderDataset.NATIVE);
    }

    /** As {@link #validation(Path, Dataset)}, with {@code channels} as in {@link #open(Path, Split, int)}. */
    public static java.util.Optional<Dataset> validation(Path path, Dataset train, int channels) throws IOException {
        if (!Files.isDirectory(path.resolve("test"))) return java.util.Optional.empty();
        for (String n : List.of("val", "validation"))
            if (Files.isDirectory(path.resolve(n))) {
                Dataset val = FolderDataset.open(path.resolve(n), channels);
                requireTrainingClasses(val, path.resolve(n).toString(), train);
                return java.util.Optional.of(val);
            }
        return java.util.Optional.empty();
    }

    /**
     * Refuses an evaluation split whose classes are not the training set's: labels are positions
     * in the sorted class names, so a split missing one class would relabel every class after it.
     */
    public static void requireTrainingClasses(Dataset split, String where, Dataset train) {
        if (!split.classes().equals(train.classes()))
            throw new IllegalArgumentException(where + " has classes " + split.classes() + " but the training set has "
                    + train.classes() + ": give it the same class folders (an empty folder for a class without images)");
    }

    /** A training set and the validation examples held out of it. */
    public record Held(Dataset train, Dataset val) {}

    /**
     * Holds out {@code round(fraction x size)} examples drawn by {@code seed} (at least one) as a
     * validation split; the rest is the training set. Both keep dataset order.
     */
    public static Held holdOut(Dataset base, double fraction, long seed) {
        if (!(fraction > 0 && fraction < 1))
            throw new IllegalArgumentException("--val-fraction must be in (0, 1), got " + fraction);
        int k = (int) Math.max(1, Math.round(fraction * base.size()));
        if (k >= base.size())
            throw new IllegalArgumentException("--val-fraction " + fraction + " of " + base.size()
                    + " examples leaves none to train on; lower it");
        int[] all = drawn(base.size(), k, seed);      // the first k are held out
        int[] val = Arrays.copyOf(all, k), train = Arrays.copyOfRange(all, k, all.length);
        Arrays.sort(val);
        Arrays.sort(train);
        return new Held(new Subset(base, train), new Subset(base, val));
    }

    /** The examples at the given indices of {@code base}, in that order. */
    public static Dataset subset(Dataset base, int[] indices) {
        for (int i : indices)
            if (i < 0 || i >= base.size())
                throw new IllegalArgumentException("subset index " + i + " out of range for " + base.size() + " examples");
        return new Subset(base, indices.clone());
    }

    /** The first min(n, size) examples. */
    public static Dataset first(Dataset base, int n) {
        if (n <= 0) throw new IllegalArgumentException("subset size must be positive, got " + n);
        return n >= base.size() ? base : range(base, 0, n);
    }

    /** Examples from (inclusive) .. to (exclusive), e.g. to hold out the end of a training set. */
    public static Dataset range(Dataset base, int from, int to) {
        if (from < 0 || to > base.size() || from >= to)
            throw new IllegalArgumentException("range [" + from + ", " + to + ") is empty or outside the "
                    + base.size() + " examples of " + base.name());
        int[] idx = new int[to - from];
        Arrays.setAll(idx, i -> from + i);
        return new Subset(base, idx);
    }

    /**
     * {@code shots} examples of every class drawn by {@code seed} (the few-shot protocol's
     * training sets), kept in dataset order. Reads labels only.
     */
    public static Dataset perClass(Dataset base, int shots, long seed) {
        if (shots <= 0) throw new IllegalArgumentException("shots per class must be positive, got " + shots);
        int k = base.numClasses();
        int[][] byClass = new int[k][];
        int[] counts = new int[k];
        for (int i = 0; i < base.size(); i++) counts[base.label(i)]++;
        for (int c = 0; c < k; c++) {
            if (counts[c] < shots)
                throw new IllegalArgumentException("class " + base.classes().get(c) + " of " + base.name() + " has "
                        + counts[c] + " examples, fewer than " + shots + " shots");
            byClass[c] = new int[counts[c]];
            counts[c] = 0;
        }
        for (int i = 0; i < base.size(); i++) {
            int c = base.label(i);
            byClass[c][counts[c]++] = i;
        }
        SplittableRandom r = new SplittableRandom(seed);
        int[] idx = new int[k * shots];
        for (int c = 0; c < k; c++) {
            int[] all = byClass[c];
            for (int i = 0; i < shots; i++) {         // partial Fisher-Yates
                int j = i + r.nextInt(all.length - i);
                int t = all[i]; all[i] = all[j]; all[j] = t;
            }
            System.arraycopy(all, 0, idx, c * shots, shots);
        }
        Arrays.sort(idx);
        return new Subset(base, idx);
    }

    /** min(n, size) examples drawn without replacement by {@code seed}, kept in dataset order. */
    public static Dataset random(Dataset base, int n, long seed) {
        if (n <= 0) throw new IllegalArgumentException("subset size must be positive, got " + n);
        if (n >= base.size()) return base;
        int[] idx = Arrays.copyOf(drawn(base.size(), n, seed), n);
        Arrays.sort(idx);
        return new Subset(base, idx);
    }

    /** IDX or CIFAR images (one channel count throughout) converted to the requested count. */
    private record Converted(Dataset base, int channels) implements Dataset {
        @Override public String name() { return base.name(); }
        @Override public int size() { return base.size(); }
        @Override public List<String> classes() { return base.classes(); }
        @Override public int height() { return base.height(); }
        @Override public int width() { return base.width(); }
        @Override public int label(int i) { return base.label(i); }
        @Override public Image image(int i) throws IOException { return Images.convert(base.image(i), channels); }
        @Override public String source(int i) { return base.source(i); }
    }

    /**
     * 0..size-1 after a partial Fisher-Yates shuffle by {@code seed}: the first k entries are k
     * indices drawn without replacement, the rest are the others (holdOut and random share it, so
     * a seed draws the same examples for both).
     */
    private static int[] drawn(int size, int k, long seed) {
        int[] all = new int[size];
        Arrays.setAll(all, i -> i);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < k; i++) {
            int j = i + r.nextInt(size - i);
            int t = all[i]; all[i] = all[j]; all[j] = t;
        }
        return all;
    }

    private record Subset(Dataset base, int[] indices) implements Dataset {
        @Override public String name() { return base.name() + " (subset of " + indices.length + ")"; }
        @Override public int size() { return indices.length; }
        @Override public List<String> classes() { return base.classes(); }
        @Override public int channels() { return base.channels(); }
        @Override public int height() { return base.height(); }
        @Override public int width() { return base.width(); }
        @Override public int label(int i) { return base.label(indices[i]); }
        @Override public Image image(int i) throws IOException { return base.image(indices[i]); }
        @Override public String source(int i) { return base.source(indices[i]); }
    }
}
