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
 */
public final class FolderDataset implements Dataset {
    private final Path root;
    private final List<String> classes;
    private final List<Path> files;
    private final int[] labels;
    private final int channels, height, width;

    private FolderDataset(Path root, List<String> classes, List<Path> files, int[] labels, Image first) {
        this.root = root;
        this.classes = classes;
        this.files = files;
        this.labels = labels;
        this.channels = first.channels();
        this.height = first.height();
        this.width = first.width();
    }

    /** Lists root's class folders and their images; decodes the first image to learn the native size. */
    public static FolderDataset open(Path root) throws IOException {
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
        Image first = firstReadable(files);
        return new FolderDataset(root, List.copyOf(classes), List.copyOf(files),
                labels.stream().mapToInt(Integer::intValue).toArray(), first);
    }

    /** The first image that decodes (unreadable ones are the loader's business: stop or skip). */
    private static Image firstReadable(List<Path> files) throws IOException {
        IOException first = null;
        for (Path f : files) {
            try {
                return Images.readNative(f);
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        throw new IOException("no image in the folder could be decoded; the first failure: " + first.getMessage(), first);
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
    @Override public Image image(int i) throws IOException { return Images.readNative(files.get(i)); }
    @Override public String source(int i) { return files.get(i).toString(); }

    /** The file of example i. */
    public Path file(int i) { return files.get(i); }
}
