package vit22b.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import vit22b.backend.Backend;
import vit22b.io.ModelFiles;
import vit22b.io.ModelMetadata;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.ViT;

/**
 * Model weights from a file for evaluation or fine-tuning: a training checkpoint (with
 * optimiser state, which is ignored here) or a weights-only file (ours or timm's layout).
 */
public final class Weights {
    private Weights() {}

    /** The config, flat parameters (host copy) and metadata (class names...) of a model file. */
    public record Host(ModelConfig config, float[] params, Map<String, String> metadata) {
        public Host(ModelConfig config, float[] params) { this(config, params, Map.of()); }

        /** The class names the file records, if any. */
        public Optional<List<String>> classes() { return ModelMetadata.classes(metadata); }
    }

    public static Host read(Path file) throws IOException { return read(file, ModelFiles.Flags.NONE); }

    /**
     * The model in any of our files or a timm-layout file; a checkpoint's optimizer tensors are
     * skipped (not read), so loading one costs the model's memory only.
     */
    public static Host read(Path file, ModelFiles.Flags flags) throws IOException {
        try (ModelFiles.Loaded l = ModelFiles.load(file, flags)) {
            float[] p = new float[Math.toIntExact(l.layout().total())];
            java.lang.foreign.MemorySegment.copy(l.params().segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, p, 0, p.length);
            return new Host(l.config(), p, l.metadata());
        }
    }

    /** A model on {@code backend} holding the file's weights. */
    public static ViT load(Path file, Backend backend) throws IOException { return load(file, ModelFiles.Flags.NONE, backend); }

    public static ViT load(Path file, ModelFiles.Flags flags, Backend backend) throws IOException {
        Host h = read(file, flags);
        ViT model = new ViT(backend, h.config());
        backend.upload(model.params(), h.params());
        return model;
    }

    /**
     * Fine-tuning start (paper section 2): copies every parameter of {@code src} into the
     * matching one of {@code dst}'s config; the position embedding is resampled bilinearly to
     * the new patch grid; the classifier is left at its initial value when the class count
     * changed. Sizes other than resolution and classes must agree.
     */
    public static float[] adapt(Host src, ModelConfig dst, float[] dstInit) {
        ModelConfig s = src.config();
        if (s.width() != dst.width() || s.depth() != dst.depth() || s.mlp() != dst.mlp() || s.heads() != dst.heads()
                || s.patch() != dst.patch() || s.channels() != dst.channels())
            throw new IllegalArgumentException("cannot fine-tune " + s + " as " + dst
                    + ": width, depth, MLP, heads, patch and channels must match; only resolution and classes may change");
        if (s.gelu() != dst.gelu() || s.norm() != dst.norm())
            throw new IllegalArgumentException("cannot fine-tune a model trained with GELU " + s.gelu() + " and norm "
                    + s.norm() + " as GELU " + dst.gelu() + " and norm " + dst.norm()
                    + ": the weights only mean something under the maths they were trained with; use the same --gelu/--norm");
        ParamLayout from = new ParamLayout(s), to = new ParamLayout(dst);
        float[] out = dstInit.clone();
        for (ParamLayout.Entry e : to.entries()) {
            if (!from.has(e.name())) continue;
            ParamLayout.Entry f = from.entry(e.name());
            boolean head = e.name().startsWith("head.");
            if (head && s.classes() != dst.classes()) continue;
            float[] values = java.util.Arrays.copyOfRange(src.params(), (int) f.offset(), (int) (f.offset() + f.size()));
            if (e.name().equals("pos_embed"))
                values = PosEmbedResize.bilinear(values, s.grid(), dst.grid(), dst.width());
            if (values.length != e.size())
                throw new IllegalArgumentException("parameter " + e.name() + " has " + values.length + " values, expected " + e.size());
            System.arraycopy(values, 0, out, (int) e.offset(), values.length);
        }
        return out;
    }
}
