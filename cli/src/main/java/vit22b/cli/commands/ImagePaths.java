package vit22b.cli.commands;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/** Image arguments as files: a file as is, a folder's images (recursively, sorted), a glob's matches (sorted). */
final class ImagePaths {
    private ImagePaths() {}

    static List<Path> expand(List<String> args) throws IOException {
        List<Path> out = new ArrayList<>();
        for (String a : args) {
            if (a.indexOf('*') >= 0 || a.indexOf('?') >= 0 || a.indexOf('[') >= 0) {
                List<Path> m = glob(a);
                if (m.isEmpty()) throw new IOException("no image matches '" + a + "'");
                out.addAll(m);
            } else {
                Path p = Path.of(a);
                if (Files.isDirectory(p)) {
                    List<Path> m = imagesUnder(p);
                    if (m.isEmpty()) throw new IOException("folder " + p + " holds no .png, .jpg or .jpeg image");
                    out.addAll(m);
                } else if (Files.isRegularFile(p)) {
                    out.add(p);
                } else {
                    throw new java.nio.file.NoSuchFileException(a);
                }
            }
        }
        return out;
    }

    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    private static List<Path> imagesUnder(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).filter(ImagePaths::isImage).sorted().toList();
        }
    }

    /** The glob's fixed leading folders are walked; the rest is matched against paths below them. */
    private static List<Path> glob(String pattern) throws IOException {
        String norm = pattern.replace('\\', '/');
        int firstMeta = norm.length();
        for (char ch : new char[] {'*', '?', '['}) { int i = norm.indexOf(ch); if (i >= 0) firstMeta = Math.min(firstMeta, i); }
        int slash = norm.lastIndexOf('/', firstMeta);
        Path base = slash < 0 ? Path.of(".") : Path.of(slash == 0 ? "/" : norm.substring(0, slash));
        if (!Files.isDirectory(base)) return List.of();
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + (slash < 0 ? norm : norm.substring(slash + 1)));
        try (Stream<Path> s = Files.walk(base)) {
            return s.filter(Files::isRegularFile).filter(p -> m.matches(base.relativize(p))).sorted()
                    .map(p -> slash < 0 ? base.relativize(p) : p).toList();
        }
    }
}
