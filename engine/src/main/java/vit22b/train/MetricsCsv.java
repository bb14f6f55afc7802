package vit22b.train;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * metrics.csv beside metrics.jsonl, for spreadsheets and pandas: one column per metric in the
 * order first seen, an empty cell where a row lacks a metric (training rows have no eval
 * accuracy). A row with a new metric rewrites the file with the wider header (atomically);
 * otherwise rows are appended.
 */
public final class MetricsCsv implements MetricsSink {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path path;
    private final List<Map<String, ?>> rows = new ArrayList<>();
    private final LinkedHashSet<String> columns = new LinkedHashSet<>();

    /** Starts the file from {@code existing} rows (those of metrics.jsonl when a run resumes). */
    public MetricsCsv(Path path, List<? extends Map<String, ?>> existing) throws IOException {
        this.path = path;
        for (Map<String, ?> r : existing) { rows.add(new LinkedHashMap<>(r)); columns.addAll(r.keySet()); }
        rewrite();
    }

    @Override public void write(Map<String, ?> row) throws IOException {
        rows.add(new LinkedHashMap<>(row));
        if (columns.addAll(row.keySet())) {
            rewrite();
        } else {
            Files.writeString(path, line(row), StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
        }
    }

    private void rewrite() throws IOException {
        StringBuilder b = new StringBuilder(String.join(",", columns.stream().map(MetricsCsv::cell).toList())).append('\n');
        for (Map<String, ?> r : rows) b.append(line(r));
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        Files.writeString(tmp, b, StandardCharsets.UTF_8);
        Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private String line(Map<String, ?> row) {
        List<String> cells = new ArrayList<>(columns.size());
        for (String c : columns) cells.add(row.containsKey(c) ? cell(row.get(c)) : "");
        return String.join(",", cells) + "\n";
    }

    /**
     * A value as text: numbers without exponent when large (Unix times), lists and arrays as JSON;
     * RFC 4180 quoting: a cell with a comma, quote or line break is quoted, quotes doubled.
     */
    static String cell(Object v) {
        String s = text(v);
        return s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")
                ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    private static String text(Object v) {
        if (v == null) return "";
        if (v instanceof Double d && Double.isFinite(d) && Math.abs(d) >= 1e7) return BigDecimal.valueOf(d).toPlainString();
        if (v.getClass().isArray() || v instanceof Collection<?> || v instanceof Map<?, ?>) {
            try {
                return JSON.writeValueAsString(v);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException("metric value " + v + " cannot be written as JSON", e);
            }
        }
        return v.toString();
    }
}
