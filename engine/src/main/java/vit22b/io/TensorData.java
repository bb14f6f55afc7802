package vit22b.io;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/**
 * A tensor to write: its shape, element type (F32 or BF16, written as that safetensors dtype)
 * and a segment of exactly shape-product elements in native order (a slice of a host buffer, or
 * a heap array via {@link #of} and {@link #bf16}); not copied before writing.
 */
public record TensorData(int[] shape, DType dtype, MemorySegment data) {
    public TensorData {
        shape = shape.clone();
        Tensor.requireStorable(dtype);
        long n = Tensor.sizeOf(shape);
        if (data.byteSize() != n * dtype.size)
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " needs " + n + " "
                    + dtype + " elements (" + n * dtype.size + " bytes), got " + data.byteSize() + " bytes");
    }

    /** A float32 tensor. */
    public TensorData(int[] shape, MemorySegment floats) { this(shape, DType.F32, floats); }

    public static TensorData of(float[] data, int... shape) {
        return new TensorData(shape, MemorySegment.ofArray(data));
    }

    /** A bf16 tensor of raw bf16 bits ({@link vit22b.tensor.Bf16}). */
    public static TensorData bf16(short[] bits, int... shape) {
        return new TensorData(shape, DType.BF16, MemorySegment.ofArray(bits));
    }

    /** A host tensor as it is stored (F32 or BF16). */
    public static TensorData of(Tensor host) {
        return new TensorData(host.shape(), host.dtype(), HostStorage.bytesOf(host));
    }

    @Override public int[] shape() { return shape.clone(); }
}
