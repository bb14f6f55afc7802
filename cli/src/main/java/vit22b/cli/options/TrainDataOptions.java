package vit22b.cli.options;

import picocli.CommandLine.Option;

/** {@code --workers} and {@code --train-limit}: how a training command reads its training split. */
public final class TrainDataOptions {
    @Option(names = "--workers", description = "data threads (default: cores - 1)")
    public Integer workers;
    @Option(names = "--train-limit", defaultValue = "0", description = "use only the first N training images (0: all)")
    public int trainLimit;
}
