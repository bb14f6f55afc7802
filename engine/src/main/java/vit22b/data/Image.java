package vit22b.data;

/**
 * A decoded image as channel-major floats (C x H x W, row-major within a channel), pixel values
 * scaled to [-1, 1] (8-bit value x becomes x / 127.5 - 1), the model's input convention.
 */
public record Image(int channels, int height, int width, float[] pixels) {
    public Image {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new IllegalArgumentException("image dimensions must be positive, got "
                    + channels + "x" + height + "x" + width);
        if (pixels.length != channels * height * width)
            throw new IllegalArgumentException("pixel array has " + pixels.length + " values, expected "
                    + channels + "x" + height + "x" + width + " = " + channels * height * width);
    }

    /** Value of channel c at row y, column x. */
    public float at(int c, int y, int x) { return pixels[(c * height + y) * width + x]; }
}
