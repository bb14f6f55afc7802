package vit22b.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;
import vit22b.model.Variant;
import vit22b.tensor.HostStorage;

/**
 * Model weights as safetensors files, under the timm names of {@link ParamLayout}.
 * Our files carry the config as JSON in metadata {@value #CONFIG_KEY}; a file without it is
 * read as a timm model ({@code ParallelScalingBlock}, or {@code Block} for the sequential
 * variant) whose sizes and block variant come from the tensor names and shapes and whose
 * GELU, norm and loss come from {@link Flags}.
 */
public final class ModelFiles {
    public static final String CONFIG_KEY = "vit22b.config";
    /** Tensors under this prefix are a checkpoint's optimizer state: not part of the model, skipped when loading one. */
    public static final String OPTIMIZER_PREFIX = "optimizer.";
    private static final Pattern BLOCK = Pattern.compile("blocks\\.(\\d+)\\..*");

    private ModelFiles() {}

    /**
     * What the caller says about the model; null means "not given". For a timm file they
     * choose (defaults: tanh GELU, RMS norm, sigmoid loss); for our files they must agree
     * with the recorded config.
     */
    public record Flags(GeluKind gelu, NormKind norm, LossKind loss, boolean allowNonfinite) {
        public static final Flags NONE = new Flags(null, null, null);

        /** Weights holding NaN or infinity refused. */
        public Flags(GeluKind gelu, NormKind norm, LossKind loss) { this(gelu, norm, loss, false); }
    }

    /** A loaded model: config, layout, and the flat parameter buffer (host memory, owned). */
    public record Loaded(ModelConfig config, ParamLayout layout, HostStorage params,
                         Map<String, String> metadata, boolean timm) implements AutoCloseable {
        @Override public void close() { params.close(); }
    }

    /** Writes the flat parameters (floats in {@code layout} order) with the config and {@code extra} metadata. */
    public static void save(Path file, ParamLayout layout, MemorySegment flat, Map<String, String> extra) throws IOException {
        if (flat.byteSize() != layout.total() * Float.BYTES)
            throw new IllegalArgumentException("parameter buffer holds " + flat.byteSize() / Float.BYTES
                    + " floats; model " + layout.config().name() + " has " + layout.total());
        if (extra.containsKey(CONFIG_KEY))
            throw new IllegalArgumentException("metadata key " + CONFIG_KEY + " is reserved for the model config");
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : layout.entries())
            tensors.put(e.name(), new TensorData(e.shape(), e.in(flat)));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(CONFIG_KEY, ConfigJson.toJson(layout.config()));
        meta.putAll(extra);
        SafeTensors.write(file, tensors, meta);
    }

    public static void save(Path file, ParamLayout layout, float[] flat, Map<String, String> extra) throws IOException {
        save(file, layout, MemorySegment.ofArray(flat), extra);
    }

    /**
     * Reads a model file (ours or timm layout) into host memory, checking every tensor's name and
     * shape; weights holding NaN or infinity are refused (they would only give NaN outputs) unless
     * {@code flags.allowNonfinite()}.
     */
    public static Loaded load(Path file, Flags flags) throws IOException {
        try (SafeTensorsFile f = SafeTensors.open(file)) {
            boolean timm = timm(f);
            ModelConfig c = config(f, flags);
            ParamLayout layout = new ParamLayout(c);
            checkTensors(f, layout);
            HostStorage params = new HostStorage(layout.total());
            try {
                for (ParamLayout.Entry e : layout.entries()) {
                    MemorySegment dst = e.in(params.segment());
                    f.read(e.name(), dst);
                    if (!flags.allowNonfinite()) requireFinite(file, e.name(), dst, 0);
                }
            } catch (IOException | RuntimeException e) {
                params.close();
                throw e;
            }
            return new Loaded(c, layout, params, f.metadata(), timm);
        }
    }

    /** Refuses NaN or infinity in {@code floats}, a piece of tensor {@code name} starting at its element {@code first}. */
    static void requireFinite(Path file, String name, MemorySegment floats, long first) throws IOException {
        long n = floats.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
            float x = floats.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
            if (!Float.isFinite(x)) throw nonfinite(file, name, x, first + i);
        }
    }

    /**
     * {@link #requireFinite} for a piece as the file stores it ({@code type} F32 or BF16,
     * little-endian); a BF16 element is non-finite when its exponent bits are all ones.
     */
    static void requireFinite(Path file, String name, MemorySegment piece, DType type, long first) throws IOException {
        long n = piece.byteSize() / type.size;
        if (type == DType.BF16) {
            for (long i = 0; i < n; i++) {
                short x = piece.getAtIndex(DType.LE_16, i);
                if ((x & 0x7f80) == 0x7f80) throw nonfinite(file, name, vit22b.tensor.Bf16.toFloat(x), first + i);
            }
        } else if (type == DType.F32) {
            for (long i = 0; i < n; i++) {
                float x = piece.getAtIndex(DType.LE_F32, i);
                if (!Float.isFinite(x)) throw nonfinite(file, name, x, first + i);
            }
        } else {
            throw new IllegalArgumentException("requireFinite on " + type + " bytes: convert them to float32 first");
        }
    }

    private static IOException nonfinite(Path file, String name, float x, long element) {
        return new IOException(file + ": tensor '" + name + "' holds " + x + " at element " + element + "; the weights are "
                + "damaged or from a diverged run (use an earlier checkpoint, or --allow-nonfinite to load them anyway)");
    }

    /** Whether a file is a timm-layout one (without our config metadata). */
    static boolean timm(SafeTensorsFile f) { return !f.metadata().containsKey(CONFIG_KEY); }

    /** The model a file holds: its recorded config, or sizes from a timm file's shapes and the flags. */
    static ModelConfig config(SafeTensorsFile f, Flags flags) throws IOException {
        return timm(f) ? inferTimm(f, flags) : recorded(f, flags);
    }

    private static ModelConfig recorded(SafeTensorsFile f, Flags flags) throws IOException {
        ModelConfig c;
        try {
            c = ConfigJson.fromJson(f.metadata().get(CONFIG_KEY));
        } catch (IllegalArgumentException e) {
            throw SafeTensors.error(f.path(), "metadata " + CONFIG_KEY + ": " + e.getMessage());
        }
        agree(f, "gelu", c.gelu(), flags.gelu());
        agree(f, "norm", c.norm(), flags.norm());
        agree(f, "loss", c.loss(), flags.loss());
        return c;
    }

    private static void agree(SafeTensorsFile f, String what, Enum<?> recorded, Enum<?> given) {
        if (given != null && given != recorded)
            throw new IllegalArgumentException(f.path() + " records " + what + " " + ConfigJson.lower(recorded)
                    + " but " + ConfigJson.lower(given) + " was asked for; drop the " + what + " option for this file");
    }

    /** Sizes of a timm-layout file from its tensor shapes (DESIGN.md, "Files and formats"). */
    static ModelConfig inferTimm(SafeTensorsFile f, Flags flags) throws IOException {
        Path p = f.path();
        int[] pw = need(f, "patch_embed.proj.weight", 4);
        int d = pw[0], channels = pw[1], patch = pw[2];
        if (pw[3] != patch)
            throw SafeTensors.error(p, "patch_embed.proj.weight " + Arrays.toString(pw) + " has non-square patches");
        int[] pos = need(f, "pos_embed", 3);
        int n = pos[1];
        int grid = (int) Math.round(Math.sqrt(n));
        if (grid * grid != n)
            throw SafeTensors.error(p, "pos_embed " + Arrays.toString(pos) + " has " + n
                    + " tokens, not a square grid; only square images are supported");
        TreeSet<Integer> blocks = new TreeSet<>();
        for (String name : f.names()) {
            Matcher m = BLOCK.matcher(name);
            if (m.matches()) blocks.add(Integer.parseInt(m.group(1)));
        }
        if (blocks.isEmpty()) throw SafeTensors.error(p, "no blocks.* tensors; this is not a ViT-22B-layout model");
        int depth = blocks.last() + 1;
        // The block variant from the names present (ParamLayout's): timm's Block (sequential) or
        // ParallelScalingBlock, qkv biases, q/k norms.
        boolean parallel = !f.has("blocks.0.attn.qkv.weight");
        String attn = parallel ? "blocks.0." : "blocks.0.attn.";
        boolean biases = f.has(parallel ? "blocks.0.in_proj.bias" : "blocks.0.attn.qkv.bias");
        boolean qkNorm = f.has(attn + "q_norm.weight");
        int mlp = parallel
                ? (biases ? need(f, "blocks.0.in_proj.weight", 2)[0] - 3 * d : need(f, "blocks.0.mlp_bias", 1)[0])
                : need(f, "blocks.0.mlp.fc1.weight", 2)[0];
        if (!qkNorm)
            throw SafeTensors.error(p, "has no " + attn + "q_norm.weight, and without QK-norm the head count is not in "
                    + "the tensor shapes; only files with QK-norm can be read without our metadata");
        int hd = need(f, attn + "q_norm.weight", 1)[0];
        if (hd == 0 || d % hd != 0)
            throw SafeTensors.error(p, attn + "q_norm.weight has " + hd + " elements, which does not divide the width "
                    + d + ", so the head count D / head_dim is not an integer; the file is not a valid model");
        int classes = f.has("head.weight") ? need(f, "head.weight", 2)[0] : 0;
        String name = p.getFileName().toString().replaceFirst("\\.safetensors$", "");
        return new ModelConfig(name, d, depth, mlp, d / hd, patch, grid * patch, channels, classes,
                flags.norm() != null ? flags.norm() : NormKind.RMS,
                flags.gelu() != null ? flags.gelu() : GeluKind.TANH,
                flags.loss() != null ? flags.loss() : LossKind.SIGMOID, 0f, new Variant(true, parallel, biases));
    }

    private static int[] need(SafeTensorsFile f, String name, int rank) throws IOException {
        if (!f.has(name)) throw SafeTensors.error(f.path(), "tensor '" + name + "' is missing");
        int[] s = f.shape(name);
        if (s.length != rank)
            throw SafeTensors.error(f.path(), "tensor '" + name + "' has shape " + Arrays.toString(s)
                    + ", expected rank " + rank);
        return s;
    }

    /** Every tensor of {@code layout} is present with its shape, and there is no other. */
    static void checkTensors(SafeTensorsFile f, ParamLayout layout) throws IOException {
        for (ParamLayout.Entry e : layout.entries()) {
            if (!f.has(e.name()))
                throw SafeTensors.error(f.path(), "tensor '" + e.name() + "' (shape " + Arrays.toString(e.shape())
                        + ") is missing for model " + describe(layout.config()));
            int[] s = f.shape(e.name());
            if (!Arrays.equals(s, e.shape()))
                throw SafeTensors.error(f.path(), "tensor '" + e.name() + "' has shape " + Arrays.toString(s)
                        + ", expected " + Arrays.toString(e.shape()) + " for model " + describe(layout.config()));
        }
        for (String name : f.names())
            if (!layout.has(name) && !name.startsWith(OPTIMIZER_PREFIX))
                throw SafeTensors.error(f.path(), "unexpected tensor '" + name + "' (shape "
                        + Arrays.toString(f.shape(name)) + ") is not part of model " + describe(layout.config()));
    }

    private static String describe(ModelConfig c) {
        return c.name() + " (D " + c.width() + ", depth " + c.depth() + ", MLP " + c.mlp() + ", heads " + c.heads()
                + ", patch " + c.patch() + ", " + c.imageSize() + " px, " + c.channels() + " ch, " + c.classes() + " classes)";
    }
}
