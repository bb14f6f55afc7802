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
            out.write(JSON.writeValueAsString(record));
            out.newLine();
            out.flush();
            for (MetricsSink s : sinks) s.write(record);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write metrics to " + path + ": " + e.getMessage(), e);
        }
    }

    /** Reads a metrics file back, one map per line (blank lines skipped). */
    @SuppressWarnings("unchecked")
    public static List<Map<String, Object>> read(Path path) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        int n = 0;
        for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
            n++;
            if (line.isBlank()) continue;
            try {
                rows.add(JSON.readValue(line, Map.class));
            } catch (IOException e) {
                throw new IOException(path + " line " + n + " is not a JSON object: " + e.getMessage(), e);
            }
        }
        return rows;
    }

    @Override public void close() throws IOException {
        try (out) {
            for (MetricsSink s : sinks) s.close();
        }
    }
}
