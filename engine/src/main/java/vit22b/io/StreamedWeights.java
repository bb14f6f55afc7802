package vit22b.io;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import vit22b.backend.Backend;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/**
 * A model file (ours or timm's layout, a checkpoint's optimizer state skipped) loaded into an
 * inference-only model ({@link ViT#inference}) without the model ever being in Java memory: the
 * file stays memory-mapped, and each tensor is converted to float32 a piece at a time into one
 * bounded staging array and uploaded into its place on the backend (which rounds to bf16 when
 * its compute weights are bf16; a BF16 file's values round to themselves). The header, names and
 * shapes are checked before the device is touched; weights holding NaN or infinity are refused
 * as {@link ModelFiles#load} does. Long loads report progress.
 */
public final class StreamedWeights {
    /** Staging: 4 Mi floats (16 MiB) per piece. */
    static final int STAGING_FLOATS = 1 << 22;
    /** Seconds between progress lines. */
    private static final double PROGRESS_EVERY = 5;

    private StreamedWeights() {}

    /** The loaded model and the file's metadata (class names, preprocessing). Closing frees the model. */
    public record Loaded(ViT model, Map<String, String> metadata, boolean timm) implements AutoCloseable {
        public ModelConfig config() { return model.config(); }
        /** The class names the file records, if any. */
        public Optional<List<String>> classes() { return ModelMetadata.classes(metadata); }
        @Override public void close() { model.close(); }
    }

    /** Loads {@code file} onto {@code backend}; progress lines go to {@code log} (null: none). */
    public static Loaded load(Path file, ModelFiles.Flags flags, Backend backend, PrintStream log) throws IOException {
        return load(file, flags, backend, log, STAGING_FLOATS);
    }

    static Loaded load(Path file, ModelFiles.Flags flags, Backend backend, PrintStream log, int stagingFloats)
            throws IOException {
        try (SafeTensorsFile f = SafeTensors.open(file)) {
            ModelConfig c = ModelFiles.config(f, flags);
            ParamLayout layout = new ParamLayout(c);
            ModelFiles.checkTensors(f, layout);
            ViT model = ViT.inference(backend, c);
            try {
                Progress progress = new Progress(file, layout.total(), log);
                long largest = layout.entries().stream().mapToLong(ParamLayout.Entry::size).max().orElse(0);
                float[] staging = new float[(int) Math.min(stagingFloats, largest)];
                for (ParamLayout.Entry e : layout.entries()) {
                    // an entry lies inside one part, and parts fit ints (PartLayout.requireFits)
                    Tensor flat = model.weight(e.name()).reshape((int) e.size());
                    for (long at = 0; at < e.size(); ) {
                        int n = (int) Math.min(staging.length, e.size() - at);
                        float[] piece = n == staging.length ? staging : new float[n];   // upload takes the view's size
                        MemorySegment seg = MemorySegment.ofArray(piece);
                        f.read(e.name(), at, seg);
                        if (!flags.allowNonfinite()) ModelFiles.requireFinite(file, e.name(), seg, at);
                        backend.upload(flat.view(at, n), piece);
                        at += n;
                        progress.add(n);
                    }
                }
                backend.synchronize();
                progress.done();
                return new Loaded(model, f.metadata(), ModelFiles.timm(f));
            } catch (IOException | RuntimeException e) {
                model.close();
                throw e;
            }
        }
    }

    /** A progress line every few seconds, and a summary when the load took that long. */
    private static final class Progress {
        private final Path file;
        private final long total;
        private final PrintStream log;
        private final long start = System.nanoTime();
        private long done, lastLine = start;

        Progress(Path file, long total, PrintStream log) {
            this.file = file;
            this.total = total;
            this.log = log;
        }

        void add(long n) {
            done += n;
            long now = System.nanoTime();
            if (log == null || (now - lastLine) / 1e9 < PROGRESS_EVERY) return;
            lastLine = now;
            double s = (now - start) / 1e9;
            log.printf(Locale.ROOT, "loading %s: %,d of %,d parameters (%.0f%%), %.0f s, %.0f M parameters/s%n",
                    file.getFileName(), done, total, 100.0 * done / total, s, done / s / 1e6);
        }

        void done() {
            double s = (System.nanoTime() - start) / 1e9;
            if (log != null && s >= PROGRESS_EVERY)
                log.printf(Locale.ROOT, "loaded %s: %,d parameters in %.1f s%n", file.getFileName(), total, s);
        }
    }
}
