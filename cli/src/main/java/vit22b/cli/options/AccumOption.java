package vit22b.cli.options;

import picocli.CommandLine.Option;

/** {@code --accum}: gradient accumulation, so that the paper's large batches fit few devices. */
public final class AccumOption {
    @Option(names = "--accum", defaultValue = "1", paramLabel = "N",
            description = "Average the gradients of N batches per update (an update sees N x --batch images).")
    public int accum;
}
