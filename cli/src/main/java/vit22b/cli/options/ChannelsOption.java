package vit22b.cli.options;

import picocli.CommandLine.Option;
import vit22b.data.FolderDataset;

/** {@code --channels}: what to do with a dataset's gray and RGB images (every command reading a dataset has it). */
public final class ChannelsOption {
    @Option(names = "--channels", paramLabel = "1|3",
            description = "Convert every image to 1 (gray, by luma) or 3 (RGB) channels. Without it a class folder "
                    + "must not mix gray and RGB images. Default: each image's own channels, which must agree.")
    Integer channels;

    /** The requested count, or FolderDataset.NATIVE when none was given. */
    public int value() {
        if (channels == null) return FolderDataset.NATIVE;
        if (channels != 1 && channels != 3)
            throw new IllegalArgumentException("--channels must be 1 (gray) or 3 (RGB), got " + channels);
        return channels;
    }
}
