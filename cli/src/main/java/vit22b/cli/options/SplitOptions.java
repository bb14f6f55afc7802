package vit22b.cli.options;

import java.io.IOException;
import java.nio.file.Path;

import picocli.CommandLine.Option;
import vit22b.data.Dataset;
import vit22b.data.Datasets;

/**
 * Where periodic evaluation during training looks: the dataset's own validation split when it
 * has one beside its test split, otherwise {@code --val-fraction} of the training images held
 * out (never trained on). The test split is only used for the final evaluation.
 */
public final class SplitOptions {
    @Option(names = "--val-fraction", defaultValue = "0.1", paramLabel = "F",
            description = "Fraction of the training images held out (seeded by --seed) for periodic evaluation, "
                    + "when the dataset has no val/ folder beside test/.")
    public double valFraction;

    /** The images to train on and to evaluate on during training. */
    public Datasets.Held split(Path dataset, Dataset train, long seed, int channels) throws IOException {
        var own = Datasets.validation(dataset, train, channels);
        return own.isPresent() ? new Datasets.Held(train, own.get()) : Datasets.holdOut(train, valFraction, seed);
    }
}
