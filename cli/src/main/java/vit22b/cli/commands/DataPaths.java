package vit22b.cli.commands;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import vit22b.data.Dataset;
import vit22b.data.Datasets;
import vit22b.data.Split;

/** Resolves the --data argument: a known dataset name or a path. */
final class DataPaths {
    /** Where Debian's dataset-fashion-mnist package installs the files. */
    static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    private DataPaths() {}

    static Path resolve(String data) throws IOException {
        if (data.equalsIgnoreCase("fashion-mnist")) {
            if (!Files.isDirectory(FASHION_MNIST))
                throw new IOException("Fashion-MNIST is not installed at " + FASHION_MNIST
                        + "; install it with `sudo apt-get install dataset-fashion-mnist` or give --data DIR");
            return FASHION_MNIST;
        }
        if (data.equalsIgnoreCase("cifar10"))
            throw new IllegalArgumentException("give CIFAR-10 as a path: --data DIR, the directory holding "
                    + "cifar-10-batches-bin (from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)");
        Path p = Path.of(data);
        if (!Files.exists(p)) throw new IOException("dataset " + p + " does not exist; give fashion-mnist or a directory");
        return p;
    }

    /** The split, images converted to {@code channels} (1 or 3) or FolderDataset.NATIVE. */
    static Dataset open(String data, Split split, int channels) throws IOException {
        return Datasets.open(resolve(data), split, channels);
    }

    static Split split(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "train" -> Split.TRAIN;
            case "test" -> Split.TEST;
            default -> throw new IllegalArgumentException("unknown split '" + s + "'; use train or test");
        };
    }
}
