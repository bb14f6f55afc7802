package vit22b.cli.commands;

import java.io.IOException;

import picocli.CommandLine.Option;
import vit22b.data.Dataset;
import vit22b.data.Split;

/** {@code --data} of the commands that evaluate a model on a labelled dataset. */
public final class DataOptions {
    @Option(names = "--data", defaultValue = "fashion-mnist", paramLabel = "NAME|DIR",
            description = "fashion-mnist, or a dataset directory (IDX files, CIFAR-10 batches, or class folders "
                    + "with train/ and test/).")
    String data;

    Dataset open(Split split) throws IOException { return DataPaths.open(data, split); }
}
