package vit22b.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import vit22b.model.GeluKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;

/**
 * A model as timm loads it: {@code model.safetensors} (the parameters under timm's names, no
 * metadata of ours) and {@code config.json} in timm's Hugging Face layout ({@code architecture},
 * {@code model_args} for {@code timm.create_model}, {@code pretrained_cfg} with the
 * preprocessing and class names). What JSON cannot say, the loader passes in Python (see
 * bench/timm/load_timm.py): {@code block_fn=partial(ParallelScalingBlock, fuse_out_proj=True)}
 * (our single out-projection over [attention | MLP]) and a LayerNorm (eps 1e-6) as the MAP
 * head's norm, which timm would otherwise build with the blocks' norm layer.
 */
public final class TimmExport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The registered timm model whose constructor (VisionTransformer) the model_args override. */
    public static final String ARCHITECTURE = "vit_base_patch16_224";

    private TimmExport() {}

    /** Writes dir/model.safetensors and dir/config.json; returns the two files. */
    public static List<Path> write(Path dir, ModelConfig c, float[] params, List<String> classNames) throws IOException {
        if (c.classes() == 0) throw new IllegalArgumentException("the model has no classifier; timm's model needs num_classes > 0");
        if (c.variant().biases() && c.norm() == NormKind.RMS)
            throw new IllegalArgumentException("the --biases model has norm biases, which timm's RmsNorm lacks, so timm "
                    + "cannot hold it; only a --biases model with the layer norm (centred) exports to timm");
        if ((int) ((double) c.mlp() / c.width() * c.width()) != c.mlp())
            throw new IllegalArgumentException("MLP width " + c.mlp() + " is not mlp_ratio x " + c.width() + " for any float ratio timm accepts");
        Files.createDirectories(dir);
        ParamLayout layout = new ParamLayout(c);
        MemorySegment flat = MemorySegment.ofArray(params);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : layout.entries())
            tensors.put(e.name(), new TensorData(e.shape(), e.in(flat)));
        Path weights = dir.resolve("model.safetensors"), config = dir.resolve("config.json");
        SafeTensors.write(weights, tensors, Map.of("format", "pt"));
        Path tmp = dir.resolve("config.json.tmp");
        Files.writeString(tmp, JSON.writeValueAsString(config(c, classNames)) + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, config, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return List.of(weights, config);
    }

    static ObjectNode config(ModelConfig c, List<String> classNames) {
        ObjectNode o = JSON.createObjectNode();
        o.put("architecture", ARCHITECTURE).put("num_classes", c.classes()).put("num_features", c.width());
        ObjectNode a = o.putObject("model_args");
        a.put("img_size", c.imageSize()).put("patch_size", c.patch()).put("in_chans", c.channels())
                .put("num_classes", c.classes()).put("embed_dim", c.width()).put("depth", c.depth())
                .put("num_heads", c.heads()).put("mlp_ratio", (double) c.mlp() / c.width())
                .put("qkv_bias", c.variant().biases()).put("qk_norm", c.variant().qkNorm())
                .put("class_token", false).put("no_embed_class", true)
                .put("global_pool", "map").put("fc_norm", false).put("pre_norm", false)
                .put("act_layer", c.gelu() == GeluKind.TANH ? "gelu_tanh" : "gelu")
                .put("norm_layer", c.norm() == NormKind.RMS ? "rmsnorm" : "layernorm");
        ObjectNode extra = o.putObject("vit22b");
        extra.put("block_fn", c.variant().parallel()
                ? "functools.partial(timm.models.vision_transformer.ParallelScalingBlock, fuse_out_proj=True)"
                : "timm.models.vision_transformer.Block (timm's default: the --sequential block)");
        extra.put("attn_pool_norm", "torch.nn.LayerNorm(" + c.width() + ", eps=1e-6)");
        extra.put("norm", c.norm() == NormKind.RMS ? "rms: x / sqrt(mean(x^2) + 1e-6) * weight"
                : c.variant().biases() ? "layer: LayerNorm with bias (eps 1e-6), timm's own"
                : "layer: centred LayerNorm without bias (eps 1e-6); timm needs norm_layer=partial(nn.LayerNorm, bias=False), torch >= 2.1");
        extra.put("loss", ConfigJson.lower(c.loss()));
        ObjectNode pre = ModelMetadata.preprocess(c);
        pre.put("num_classes", c.classes());
        if (classNames != null) {
            var names = pre.putArray("label_names");
            classNames.forEach(names::add);
        }
        o.set("pretrained_cfg", pre);
        return o;
    }
}
