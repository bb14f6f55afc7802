package vit22b.io;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import vit22b.tensor.Tensor;

/**
 * A float32 tensor to write: its shape and a segment of exactly shape-product floats in native
 * order (a slice of a host buffer, or a heap array via {@link #of}); not copied before writing.
 */
public record TensorData(int[] shape, MemorySegment floats) {
    public TensorData {
        shape = shape.clone();
        long n = Tensor.sizeOf(shape);
        if (floats.byteSize() != n * Float.BYTES)
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " needs " + n
                    + " floats, got " + floats.byteSize() / Float.BYTES);
    }

    public static TensorData of(float[] data, int... shape) {
        return new TensorData(shape, MemorySegment.ofArray(data));
    }

    @Override public int[] shape() { return shape.clone(); }
}
