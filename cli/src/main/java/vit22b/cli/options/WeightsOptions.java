package vit22b.cli.options;

import java.io.IOException;
import java.nio.file.Path;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import vit22b.io.ModelFiles;
import vit22b.io.StreamedWeights;
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

    @Mixin ModelKindOptions kinds;

    @Option(names = "--allow-nonfinite",
            description = "Load weights holding NaN or infinity instead of refusing them (they give NaN outputs).")
    boolean allowNonfinite;

    /** What the user said about the model; null fields were not given. */
    public ModelFiles.Flags flags() {
        return new ModelFiles.Flags(kinds.gelu(), kinds.norm(), kinds.loss(), allowNonfinite);
    }

    /** The file's config and parameters in host memory. */
    public Weights.Host read() throws IOException { return Weights.read(weights, flags()); }

    /**
     * The file mapped and checked, for an inference-only model streamed to the device
     * ({@link StreamedWeights}): eval, probe, fewshot and predict, at any model size.
     */
    public StreamedWeights.Source open() throws IOException { return StreamedWeights.open(weights, flags()); }
}
