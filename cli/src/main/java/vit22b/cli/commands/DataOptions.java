package vit22b.cli.commands;

import java.io.IOException;
import java.io.PrintWriter;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import vit22b.cli.options.ChannelsOption;
import vit22b.data.Dataset;
import vit22b.data.Split;
import vit22b.eval.LabeledImages;
import vit22b.eval.StreamedImages;

/** {@code --data}, {@code --channels} and {@code --skip-bad} of the commands that evaluate a model on a labelled dataset. */
public final class DataOptions {
    @Option(names = "--data", defaultValue = "fashion-mnist", paramLabel = "NAME|DIR",
            description = "fashion-mnist, or a dataset directory (IDX files, CIFAR-10 batches, or class folders "
                    + "under train/ and test/).")
    String data;

    @Option(names = "--skip-bad", description = "Skip unreadable images (counted) instead of stopping.")
    boolean skipBad;

    @Mixin ChannelsOption channels;

    Dataset open(Split split) throws IOException { return DataPaths.open(data, split, channels.value()); }

    /** The split as the model sees it (first {@code limit}, 0 all), decoded a batch at a time as it is read. */
    StreamedImages stream(Split split, int channels, int size, long limit) throws IOException {
        return StreamedImages.of(open(split), channels, size, limit, skipBad);
    }

    /** Reports images left out by --skip-bad on {@code log}. */
    static void reportSkipped(long skipped, Split split, PrintWriter log) {
        if (skipped > 0) {
            log.println("skipped " + skipped + " unreadable images of the " + split.name().toLowerCase(java.util.Locale.ROOT) + " split");
            log.flush();
        }
    }

    /** The split held in memory as the model sees it (first {@code limit}, 0 all); skipped images are reported on {@code log}. */
    LabeledImages load(Split split, int channels, int size, int limit, PrintWriter log) throws IOException {
        LabeledImages l = LabeledImages.of(open(split), channels, size, limit, skipBad);
        reportSkipped(l.skipped(), split, log);
        return l;
    }
}
