package vit22b.cli.options;

import java.io.IOException;
import java.nio.file.Path;

import picocli.CommandLine.Option;
import vit22b.backend.Backend;
import vit22b.io.ConfigJson;
import vit22b.io.ModelFiles;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.NormKind;
import vit22b.model.ViT;
import vit22b.train.Weights;

/**
 * The model file every reading command takes: our checkpoints (optimizer tensors ignored), our
 * model files, or a timm-layout safetensors file, whose GELU, norm and loss the flags give.
 */
public final class WeightsOptions {
    @Option(names = {"--weights", "--ckpt"}, required = true, paramLabel = "FILE",
            description = "Model file (.safetensors): a checkpoint of ours (its optimizer state is ignored), "
                    + "a model file of ours, or a timm-layout file written elsewhere.")
    public Path weights;

    @Option(names = "--gelu", paramLabel = "tanh|exact",
            description = "GELU of a timm-layout file (default: tanh); our files record it and must agree.")
    String gelu;

    @Option(names = "--norm", paramLabel = "rms|layer",
            description = "Norm of a timm-layout file (default: rms); our files record it and must agree.")
    String norm;

    @Option(names = "--loss", paramLabel = "sigmoid|softmax",
            description = "Loss (how logits become probabilities) of a timm-layout file (default: sigmoid); "
                    + "our files record it and must agree.")
    String loss;

    @Option(names = "--allow-nonfinite",
            description = "Load weights holding NaN or infinity instead of refusing them (they give NaN outputs).")
    boolean allowNonfinite;

    /** What the user said about the model; null fields were not given. */
    public ModelFiles.Flags flags() {
        return new ModelFiles.Flags(
                gelu == null ? null : ConfigJson.parse(GeluKind.class, gelu),
                norm == null ? null : ConfigJson.parse(NormKind.class, norm),
                loss == null ? null : ConfigJson.parse(LossKind.class, loss), allowNonfinite);
    }

    /** The file's config and parameters in host memory. */
    public Weights.Host read() throws IOException { return Weights.read(weights, flags()); }

    /** A model on {@code backend} holding the file's weights. */
    public ViT load(Backend backend) throws IOException { return Weights.load(weights, flags(), backend); }
}
