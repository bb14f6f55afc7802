package vit22b.cli.options;

import picocli.CommandLine.Option;

/**
 * {@code --wd} and {@code --clip}: the AdamW settings {@code train} and {@code experiment lr-sweep}
 * share, with the same defaults (the head's decay is each command's own: the paper's 3.0 in
 * train, the demo's 0.03 in the sweep).
 */
public final class OptimizerOptions {
    @Option(names = "--wd", defaultValue = "0.03", description = "decoupled weight decay of the body")
    public float wd;
    @Option(names = "--clip", defaultValue = "1.0", description = "global gradient-norm clip, 0 for none")
    public float clip;
}
