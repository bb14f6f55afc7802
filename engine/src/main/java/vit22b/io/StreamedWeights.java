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

    /**
     * Opens {@code file} (mapped; header, config, tensor names and shapes checked, nothing loaded
     * yet): what a command checks (classes, sizes) before it spends device memory and time.
     */
    public static Source open(Path file, ModelFiles.Flags flags) throws IOException {
        SafeTensorsFile f = SafeTensors.open(file);
        try {
            ModelConfig c = ModelFiles.config(f, flags);
            ModelFiles.checkTensors(f, new ParamLayout(c));
            return new Source(f, c, flags);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** A checked, mapped model file; closing unmaps it (a model loaded from it stays). */
    public static final class Source implements AutoCloseable {
        private final SafeTensorsFile file;
        private final ModelConfig config;
        private final ModelFiles.Flags flags;

        private Source(SafeTensorsFile file, ModelConfig config, ModelFiles.Flags flags) {
            this.file = file;
            this.config = config;
            this.flags = flags;
        }

        public ModelConfig config() { return config; }
        public Map<String, String> metadata() { return file.metadata(); }
        /** The class names the file records, if any. */
        public Optional<List<String>> classes() { return ModelMetadata.classes(file.metadata()); }

        /** An inference-only model on {@code backend} holding the file's weights; progress to {@code log} (null: none). */
        public ViT load(Backend backend, PrintStream log) throws IOException { return load(backend, log, STAGING_FLOATS); }

        ViT load(Backend backend, PrintStream log, int stagingFloats) throws IOException {
            Path path = file.path();
            ParamLayout layout = new ParamLayout(config);
            ViT model = ViT.inference(backend, config);
            try {
                Progress progress = new Progress(path, layout.total(), log);
                long largest = layout.entries().stream().mapToLong(ParamLayout.Entry::size).max().orElse(0);
                float[] staging = new float[(int) Math.min(stagingFloats, largest)];
                for (ParamLayout.Entry e : layout.entries()) {
                    // an entry lies inside one part, and parts fit ints (PartLayout.requireFits)
                    Tensor flat = model.weight(e.name()).reshape((int) e.size());
                    for (long at = 0; at < e.size(); ) {
                        int n = (int) Math.min(staging.length, e.size() - at);
                        float[] piece = n == staging.length ? staging : new float[n];   // upload takes the view's size
                        MemorySegment seg = MemorySegment.ofArray(piece);
                        file.read(e.name(), at, seg);
                        if (!flags.allowNonfinite()) ModelFiles.requireFinite(path, e.name(), seg, at);
                        backend.upload(flat.view(at, n), piece);
                        at += n;
                        progress.add(n);
                    }
                }
                backend.synchronize();
                progress.done();
                return model;
            } catch (IOException | RuntimeException e) {
                model.close();
                throw e;
            }
        }

        @Override public void close() { file.close(); }
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
