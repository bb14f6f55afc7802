package vit22b.train;

import java.io.IOException;
import java.util.Map;

/** Something that receives every metrics row after it is written to metrics.jsonl (CSV, TensorBoard, plots). */
public interface MetricsSink extends AutoCloseable {
    void write(Map<String, ?> row) throws IOException;

    @Override default void close() throws IOException {}
}
