package vit22b.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import vit22b.backend.Backend;
import vit22b.io.ConfigJson;
import vit22b.io.ModelFiles;
import vit22b.io.SafeTensors;
import vit22b.io.SafeTensorsFile;
import vit22b.io.TensorData;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.ViT;

/**
 * Training checkpoints in one directory: {@code ckpt-<step>.safetensors}, each the model's
 * parameters under their timm names plus the AdamW moments ({@value #M}, {@value #V}, flat,
 * in the parameters' layout), with the config, step and data position in the metadata.
 * Files are written atomically (temp file, fsync, rename), so a crash mid-save leaves the
 * previous checkpoint intact; after a successful save only the newest {@code keep} remain.
 */
public final class Checkpoints {
    public static final String M = ModelFiles.OPTIMIZER_PREFIX + "m", V = ModelFiles.OPTIMIZER_PREFIX + "v";
    public static final String STEP_KEY = "vit22b.step", POSITION_KEY = "vit22b.data_position";
    /** CRC-32C of parameters, then first and second moments, as little-endian floats: catches damage the header cannot show. */
    public static final String CRC_KEY = "vit22b.crc32c";
    private static final Pattern NAME = Pattern.compile("ckpt-(\\d+)\\.safetensors");

    private final Path dir;
    private final int keep;

    public Checkpoints(Path dir, int keep) throws IOException {
        if (keep <= 0) throw new IllegalArgumentException("--keep must be at least 1, got " + keep);
        this.dir = dir;
        this.keep = keep;
        Files.createDirectories(dir);
    }

    public Path dir() { return dir; }

    /** The file of the checkpoint at {@code step}. */
    public Path file(long step) { return dir.resolve(String.format("ckpt-%09d.safetensors", step)); }

    /**
     * Saves the model and optimiser at the optimiser's step, then removes checkpoints beyond
     * the newest {@code keep}. {@code extra} metadata (the run's settings) is stored as given.
     */
    public Path save(ViT model, AdamW opt, String dataPosition, Map<String, String> extra) throws IOException {
        return save(model.config(), Snapshot.of(model, opt), dataPosition, extra);
    }

    /** A training state on the host: parameters and Adam moments in ParamLayout order, and the updates done. */
    public record Snapshot(float[] params, float[] m, float[] v, int step) {
        /** Host copies of one device's model and optimiser. */
        public static Snapshot of(ViT model, AdamW opt) {
            Backend be = model.backend();
            return new Snapshot(be.download(model.params()), be.download(opt.m()), be.download(opt.v()), opt.step());
        }
    }

    /** {@link #save(ViT, AdamW, String, Map)} of a state already on the host (a model trained on a mesh). */
    public Path save(ModelConfig config, Snapshot st, String dataPosition, Map<String, String> extra) throws IOException {
        ParamLayout layout = new ParamLayout(config);
        float[] p = st.params(), m = st.m(), v = st.v();
        requireFinite(p, "parameters", st.step());
        requireFinite(m, "Adam first moments", st.step());
        requireFinite(v, "Adam second moments", st.step());
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        var seg = java.lang.foreign.MemorySegment.ofArray(p);
        for (ParamLayout.Entry e : layout.entries())
            tensors.put(e.name(), new TensorData(e.shape(), e.in(seg)));
        tensors.put(M, TensorData.of(m, m.length));
        tensors.put(V, TensorData.of(v, v.length));
        Map<String, String> meta = new LinkedHashMap<>(extra);
        meta.put(ModelFiles.CONFIG_KEY, ConfigJson.toJson(config));
        meta.put(STEP_KEY, Long.toString(st.step()));
        meta.put(POSITION_KEY, dataPosition);
        meta.put(CRC_KEY, crc(p, m, v));
        Path f = file(st.step());
        SafeTensors.write(f, tensors, meta);
        prune(st.step());
        return f;
    }

    /** A state with NaN or infinity is never written: whatever checkpoint there is stays the last good one. */
    private static void requireFinite(float[] a, String what, long step) {
        for (int i = 0; i < a.length; i++)
            if (!Float.isFinite(a[i]))
                throw new TrainingDivergedException("the " + what + " hold " + a[i] + " at step " + step
                        + "; not saving this state");
    }

    /** Steps of the checkpoints present, oldest first. */
    public List<Long> steps() throws IOException {
        List<Long> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(p -> {
                Matcher mm = NAME.matcher(p.getFileName().toString());
                if (mm.matches() && Files.isRegularFile(p)) out.add(Long.parseLong(mm.group(1)));
            });
        }
        out.sort(null);
        return out;
    }

    /** The newest checkpoint, if any. */
    public Optional<Path> latest() throws IOException {
        List<Long> s = steps();
        return s.isEmpty() ? Optional.empty() : Optional.of(file(s.getLast()));
    }

    /**
     * Loads the newest checkpoint that is whole. A damaged newer one (cut short, or its CRC does
     * not match) is renamed to NAME.damaged, and {@code say} is told, so that the run continues
     * from the previous good one; empty when there is no checkpoint at all.
     */
    public Optional<State> loadNewestGood(Consumer<String> say) throws IOException {
        List<Long> s = steps();
        for (int i = s.size() - 1; i >= 0; i--) {
            Path f = file(s.get(i));
            try {
                return Optional.of(load(f));
            } catch (IOException e) {
                Path aside = f.resolveSibling(f.getFileName() + ".damaged");
                Files.move(f, aside, StandardCopyOption.REPLACE_EXISTING);
                say.accept("checkpoint " + f + " is damaged (" + e.getMessage() + "); moved it to " + aside.getFileName()
                        + (i > 0 ? " and resuming from the previous one" : ""));
            }
        }
        if (!s.isEmpty()) throw new IOException("no whole checkpoint is left in " + dir + "; start the run again without --resume");
        return Optional.empty();
    }

    static String crc(float[]... arrays) {
        CRC32C crc = new CRC32C();
        ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (float[] a : arrays)
            for (int i = 0; i < a.length; ) {
                int n = Math.min(b.capacity() / Float.BYTES, a.length - i);
                b.clear();
                b.asFloatBuffer().put(a, i, n);
                b.limit(n * Float.BYTES);
                crc.update(b);
                i += n;
            }
        return Long.toHexString(crc.getValue());
    }

    /** Keeps the newest {@code keep} checkpoints up to {@code saved}, which is never deleted. */
    private void prune(long saved) throws IOException {
        List<Long> s = steps().stream().filter(x -> x <= saved).toList();
        for (int i = 0; i < s.size() - keep; i++) Files.deleteIfExists(file(s.get(i)));
    }

    /** A loaded training state: host copies of parameters and moments, with the metadata. */
    public record State(ModelConfig config, float[] params, float[] m, float[] v, long step, String dataPosition,
                        Map<String, String> metadata) {

        /** Puts the parameters into {@code model} and the moments and step into {@code opt}. */
        public void restore(ViT model, AdamW opt) {
            requireModel(model.config());
            Backend be = model.backend();
            be.upload(model.params(), params);
            be.upload(opt.m(), m);
            be.upload(opt.v(), v);
            opt.setStep(Math.toIntExact(step));
        }

        /** Refuses to restore into a model of another configuration. */
        public void requireModel(ModelConfig trained) {
            if (!trained.equals(config))
                throw new IllegalArgumentException("checkpoint model " + config + " differs from the model being trained "
                        + trained + "; use the checkpoint's --model settings");
        }
    }

    /** Reads and validates a checkpoint written by {@link #save}. */
    public static State load(Path file) throws IOException {
        try (SafeTensorsFile f = SafeTensors.open(file)) {
            Map<String, String> meta = f.metadata();
            for (String k : List.of(ModelFiles.CONFIG_KEY, STEP_KEY, POSITION_KEY))
                if (!meta.containsKey(k))
                    throw new IOException(file + ": metadata '" + k + "' is missing; this is not a training checkpoint "
                            + "(a weights-only file can start a run with --finetune-from, not --resume)");
            ModelConfig c;
            long step;
            try {
                c = ConfigJson.fromJson(meta.get(ModelFiles.CONFIG_KEY));
                step = Long.parseLong(meta.get(STEP_KEY));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": bad checkpoint metadata: " + e.getMessage(), e);
            }
            ParamLayout layout = new ParamLayout(c);
            float[] params = new float[Math.toIntExact(layout.total())];
            var seg = java.lang.foreign.MemorySegment.ofArray(params);
            for (ParamLayout.Entry e : layout.entries()) {
                if (!f.has(e.name()) || !Arrays.equals(f.shape(e.name()), e.shape()))
                    throw new IOException(file + ": tensor '" + e.name() + "' is missing or not of shape "
                            + Arrays.toString(e.shape()) + "; the checkpoint does not match its own config");
                f.read(e.name(), e.in(seg));
            }
            float[] m = moments(f, M, params.length), v = moments(f, V, params.length);
            String want = meta.get(CRC_KEY);
            if (want != null && !want.equals(crc(params, m, v)))
                throw new IOException(file + ": its data does not match its CRC-32C (the file is damaged)");
            return new State(c, params, m, v, step, meta.get(POSITION_KEY), meta);
        }
    }

    private static float[] moments(SafeTensorsFile f, String name, int n) throws IOException {
        if (!f.has(name) || !Arrays.equals(f.shape(name), new int[] {n}))
            throw new IOException(f.path() + ": optimizer tensor '" + name + "' is missing or not of " + n + " floats");
        return f.floats(name);
    }
}
