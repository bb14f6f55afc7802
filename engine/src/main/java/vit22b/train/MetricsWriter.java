package vit22b.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;

import vit22b.io.WriteFailures;

/**
 * The metrics file: one JSON object per line, flushed per line so that a killed run keeps
 * everything logged so far. Appends when resuming. Each row then goes to the added
 * {@link MetricsSink}s (metrics.csv, TensorBoard events, plots), closed with this writer.
 */
public final class MetricsWriter implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final BufferedWriter out;
    private final List<MetricsSink> sinks = new ArrayList<>();

    public MetricsWriter(Path path, boolean append) throws IOException {
        this.path = path;
        if (path.getParent() != null) Files.createDirectories(path.getParent());
        this.out = Files.newBufferedWriter(path, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
    }

    public Path path() { return path; }

    /** Rows written from now on also go to {@code sink}. */
    public void addSink(MetricsSink sink) { sinks.add(sink); }

    /** Writes one record (a map of names to numbers, strings or lists) as one line. */
    public void write(Map<String, ?> record) {
        try {
            String line = JSON.writeValueAsString(record) + System.lineSeparator();
            WriteFailures.reserve(line.length());
            out.write(line);
            out.flush();
            for (MetricsSink s : sinks) s.write(record);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write metrics to " + path + ": " + WriteFailures.explain(e)
                    + "; the checkpoints so far are intact", e);
        }
    }

    /**
     * Reads a metrics file back, one map per line (blank lines skipped). A last line cut short
     * (the process was killed while writing it) is left out; a bad line elsewhere is an error.
     */
    public static List<Map<String, Object>> read(Path path) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Line l : lines(path)) if (l.row() != null) rows.add(l.row());
        return rows;
    }

    /**
     * For a resumed run: keeps the rows up to {@code step}, the checkpoint's, since the run logs
     * the later ones again (and the final test row at {@code step} too when {@code finalAgain});
     * drops a torn last line. The file is replaced atomically. Returns the lines dropped.
     */
    public static int cutBack(Path path, long step, boolean finalAgain) throws IOException {
        if (!Files.exists(path)) return 0;
        StringBuilder kept = new StringBuilder();
        int dropped = 0;
        for (Line l : lines(path)) {
            Object s = l.row() == null ? null : l.row().get("step");
            boolean keep = s instanceof Number n && (n.longValue() < step
                    || n.longValue() == step && !(finalAgain && l.row().containsKey("test_accuracy")));
            if (keep) kept.append(l.text()).append('\n');
            else dropped++;
        }
        RunFolder.writeAtomically(path, kept.toString().getBytes(StandardCharsets.UTF_8));
        return dropped;
    }

    private record Line(String text, Map<String, Object> row) {}

    /** Non-blank lines with their parsed rows; a torn last line has a null row. */
    @SuppressWarnings("unchecked")
    private static List<Line> lines(Path path) throws IOException {
        String all = Files.readString(path, StandardCharsets.UTF_8);
        String[] parts = all.split("\n", -1);
        List<Line> out = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            if (parts[i].isBlank()) continue;
            try {
                out.add(new Line(parts[i], JSON.readValue(parts[i], Map.class)));
            } catch (IOException e) {
                if (i == parts.length - 1) out.add(new Line(parts[i], null));   // no newline after it: torn by a kill
                else throw new IOException(path + " line " + (i + 1) + " is not a JSON object: " + e.getMessage()
                        + "; remove or fix that line", e);
            }
        }
        return out;
    }

    @Override public void close() throws IOException {
        try (out) {
            for (MetricsSink s : sinks) s.close();
        }
    }
}
