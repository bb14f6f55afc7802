package vit22b.cli.commands;

import picocli.CommandLine.Option;
import vit22b.model.Variant;

/** The block variant flags (picocli mixin): the paper's block unless one is given. */
public final class VariantOptions {
    @Option(names = "--no-qk-norm", description = "No QK normalisation (the paper's Figure 1 ablation).")
    boolean noQkNorm;
    @Option(names = "--sequential", description = "The original ViT block: pre-norm attention, then pre-norm MLP (each with its own norm).")
    boolean sequential;
    @Option(names = "--biases", description = "Biases on the q, k, v projections and on every norm.")
    boolean biases;

    public Variant variant() {
        return new Variant(!noQkNorm, !sequential, biases);
    }
}
