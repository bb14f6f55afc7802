package vit22b.data;

import java.io.IOException;
import java.util.List;

/**
 * A labelled image dataset with random access. Images come back in their native channel count
 * and size, scaled to [-1, 1]; an {@link Augmentation} turns them into model inputs.
 * Implementations are safe for concurrent reads (the batch loader decodes on several threads).
 */
public interface Dataset {
    /** Where the data comes from (a path), for messages. */
    String name();

    int size();

    /** Class names; label i is classes().get(i). */
    List<String> classes();

    default int numClasses() { return classes().size(); }

    /** Channel count (1 or 3) of every image: the requested one, else the native one (a folder's must agree). */
    int channels();

    /** Native image height and width; for folder datasets, those of the first image. */
    int height();

    int width();

    /** Label of example i, without decoding the image. */
    int label(int i);

    /** Decoded image of example i. */
    Image image(int i) throws IOException;

    /** Where example i lives (a file path, or file#record), for error messages. */
    String source(int i);

    default Example example(int i) throws IOException { return new Example(image(i), label(i)); }

    /** One decoded image with its label. */
    record Example(Image image, int label) {}
}
