package vit22b.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Images in class folders: root/CLASS_NAME/*.png|jpg|jpeg. Classes are the subdirectories sorted
 * by name; files within a class are sorted by name. Images are decoded on access.
 *
 * <p>Channels: with a requested count (1 or 3) every image is converted to it (gray replicated,
 * RGB to luma). Without one, the folder must not mix gray and RGB images: the first image sets
 * the count, and decoding an image with another count is an error naming it and the fix, never
 * a model whose input channels depend on which file sorted first.
 */
public final class FolderDataset implements Dataset {
    private final Path root;
    private final List<String> classes;
    private final List<Path> files;
    private final int[] labels;
    private final int channels, height, width;
    private final boolean convert;      // channels was requested: convert, do not check
    private final Path first;           // the image that set the channel count when none was requested

    private FolderDataset(Path root, List<String> classes, List<Path> files, int[] labels, Path firstFile, Image first,
                          int channels) {
        this.root = root;
        this.classes = classes;
        this.files = files;
        this.labels = labels;
        this.convert = channels != NATIVE;
        this.first = firstFile;
        this.channels = convert ? channels : first.channels();
        this.height = first.height();
        this.width = first.width();
    }

    /** No channel count requested: every image must have the first one's. */
    public static final int NATIVE = 0;

    /** Lists root's class folders and their images, all with the first image's channel count. */
    public static FolderDataset open(Path root) throws IOException { return open(root, NATIVE); }

    /**
     * Lists root's class folders and their images; decodes the first image to learn the native
     * size. {@code channels} 1 or 3 converts every image, {@link #NATIVE} requires one count.
     */
    public static FolderDataset open(Path root, int channels) throws IOException {
        if (channels != NATIVE && channels != 1 && channels != 3)
            throw new IllegalArgumentException("--channels must be 1 (gray) or 3 (RGB), got " + channels);
        if (!Files.isDirectory(root))
            throw new IOException("image folder " + root + " does not exist or is not a directory");
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(root)) {
            classDirs = s.filter(Files::isDirectory).filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
        }
        if (classDirs.isEmpty())
            throw new IOException("image folder " + root + " has no class subdirectories (expected root/CLASS_NAME/*.png|jpg)");
        List<String> classes = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path d : classDirs) {
            int label = classes.size();
            classes.add(d.getFileName().toString());
            try (Stream<Path> s = Files.list(d)) {
                for (Path f : s.filter(FolderDataset::isImage).sorted().toList()) {
                    files.add(f);
                    labels.add(label);
                }
            }
        }
        if (files.isEmpty())
            throw new IOException("image folder " + root + " has class subdirectories but no .png/.jpg/.jpeg files in them");
        IOException failure = null;
        for (Path f : files) {     // the first image that decodes (unreadable ones are the loader's business)
            try {
                Image img = Images.readNative(f);
                return new FolderDataset(root, List.copyOf(classes), List.copyOf(files),
                        labels.stream().mapToInt(Integer::intValue).toArray(), f, img, channels);
            } catch (IOException e) {
                if (failure == null) failure = e;
            }
        }
        throw new IOException("no image in the folder could be decoded; the first failure: " + failure.getMessage(), failure);
    }

    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return !n.startsWith(".") && Files.isRegularFile(p)
                && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg"));
    }

    @Override public String name() { return root.toString(); }
    @Override public int size() { return files.size(); }
    @Override public List<String> classes() { return classes; }
    @Override public int channels() { return channels; }
    @Override public int height() { return height; }
    @Override public int width() { return width; }
    @Override public int label(int i) { return labels[i]; }
    @Override public Image image(int i) throws IOException {
        Image img = Images.readNative(files.get(i));
        if (convert) return Images.convert(img, channels);
        if (img.channels() != channels)
            throw new IllegalArgumentException("image " + files.get(i) + " has " + img.channels() + " channel(s) but "
                    + first + " has " + channels + ": " + root + " mixes gray and RGB images; pass --channels 1 or "
                    + "--channels 3 to convert every image to gray or RGB");
        return img;
    }
    @Override public String source(int i) { return files.get(i).toString(); }

    /** The file of example i. */
    public Path file(int i) { return files.get(i); }
}
