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
 * file stays memory-mapped, and each F32 or BF16 tensor is handed to the backend a piece at a
 * time as the mapped bytes themselves ({@link Backend#upload(Tensor, MemorySegment, DType)}: the
 * backend copies them, or converts on the device when the file's type is not the weights'); F16
 * and F64 tensors are converted to float32 into one bounded staging array first. The header, names and
 * shapes are checked before the device is touched; weights holding NaN or infinity are refused
 * as {@link ModelFiles#load} does. Long loads report progress.
 */
public final class StreamedWeights {
    /** Elements per piece: what the non-finite check reads while the piece is warm in cache, and the progress step. */
    static final int PIECE_ELEMENTS = 1 << 22;

    /**
     * How F32 and BF16 tensors reach the backend: BYTES, the file's bytes as they lie in the
     * mapping ({@link Backend#upload(Tensor, MemorySegment, DType)}: no float32 copy on the host);
     * FLOATS, converted to float32 on the host first (what F16 and F64 tensors always take, and the
     * route BYTES is measured and tested against).
     */
    enum Route { BYTES, FLOATS }

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
        public ViT load(Backend backend, PrintStream log) throws IOException { return load(backend, log, PIECE_ELEMENTS, Route.BYTES); }

        /**
         * {@link #load(Backend, PrintStream)} in pieces of at most {@code pieceElements};
         * {@code route}: how F32 and BF16 tensors reach the backend (F16 and F64 ones always go through floats).
         */
        ViT load(Backend backend, PrintStream log, int pieceElements, Route route) throws IOException {
            ParamLayout layout = new ParamLayout(config);
            ViT model = ViT.inference(backend, config);
            try {
                Progress progress = new Progress(file.path(), layout.total(), log);
                long largest = layout.entries().stream().mapToLong(ParamLayout.Entry::size).max().orElse(0);
                float[] staging = null;   // the float route's, made when a tensor takes it
                for (ParamLayout.Entry e : layout.entries()) {
                    DType type = file.dtype(e.name());
                    boolean bytes = route == Route.BYTES && (type == DType.F32 || type == DType.BF16);
                    if (!bytes && staging == null) staging = new float[(int) Math.min(pieceElements, largest)];
                    // an entry lies inside one part, and parts fit ints (PartLayout.requireFits)
                    Tensor flat = model.weight(e.name()).reshape((int) e.size());
                    for (long at = 0; at < e.size(); ) {
                        int n = (int) Math.min(pieceElements, e.size() - at);
                        if (bytes) uploadBytes(backend, flat.view(at, n), e.name(), type, at);
                        else uploadFloats(backend, flat.view(at, n), e.name(), at, n == staging.length ? staging : new float[n]);
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

        /** Elements [at, at + dst.size()) of tensor {@code name} straight from the mapped file. */
        private void uploadBytes(Backend backend, Tensor dst, String name, DType type, long at) throws IOException {
            MemorySegment piece = file.bytes(name, at, dst.size());
            try {
                if (!flags.allowNonfinite()) ModelFiles.requireFinite(file.path(), name, piece, type, at);
                backend.upload(dst, piece, type);
            } catch (InternalError fault) {
                throw file.faulted(fault);
            }
        }

        /** The same piece converted to float32 on the host first ({@code piece}: dst's size). */
        private void uploadFloats(Backend backend, Tensor dst, String name, long at, float[] piece) throws IOException {
            MemorySegment seg = MemorySegment.ofArray(piece);
            file.read(name, at, seg);
            if (!flags.allowNonfinite()) ModelFiles.requireFinite(file.path(), name, seg, at);
            backend.upload(dst, piece);
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
