package vit22b.cli.options;

import picocli.CommandLine.Option;
import vit22b.io.ConfigJson;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.NormKind;

/**
 * {@code --gelu}, {@code --norm}, {@code --loss}: the model's kinds, which the model files of ours
 * record, a timm-layout file cannot, and {@code train} chooses. A null means the flag was not given.
 */
public final class ModelKindOptions {
    @Option(names = "--gelu", paramLabel = "tanh|exact",
            description = "GELU: tanh (the default) or exact; a model file of ours records it and must agree.")
    String gelu;

    @Option(names = "--norm", paramLabel = "rms|layer",
            description = "Norm: rms (the default, the paper's) or layer (timm's ViTs); a model file of ours records it and must agree.")
    String norm;

    @Option(names = "--loss", paramLabel = "sigmoid|softmax",
            description = "Loss (how logits become probabilities): sigmoid (the default, the paper's) or softmax cross-entropy; "
                    + "a model file of ours records it and must agree.")
    String loss;

    public GeluKind gelu() { return gelu == null ? null : ConfigJson.parse(GeluKind.class, gelu); }
    public NormKind norm() { return norm == null ? null : ConfigJson.parse(NormKind.class, norm); }
    public LossKind loss() { return loss == null ? null : ConfigJson.parse(LossKind.class, loss); }
}
