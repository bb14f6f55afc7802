package vit22b.tensor;

import java.util.Arrays;

import vit22b.io.DType;

/**
 * A row-major view: storage, element offset into it, and shape; the element type is the
 * storage's (F32 or BF16). Views share storage; only the owner of the storage closes it.
 */
public final class Tensor {
    private final Storage storage;
    private final long offset;
    private final int[] shape;
    private final long size;

    public Tensor(Storage storage, long offset, int... shape) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape.clone();
        this.size = sizeOf(shape);
        if (offset < 0 || offset + size > storage.elements())
            throw new IllegalArgumentException("view [" + offset + ", " + (offset + size)
                    + ") lies outside storage of " + storage.elements() + " elements");
    }

    /** Refuses element types tensors cannot hold (F32 and BF16 only; F16 and F64 are file formats). */
    public static DType requireStorable(DType dtype) {
        if (dtype != DType.F32 && dtype != DType.BF16)
            throw new IllegalArgumentException("tensors hold F32 or BF16 elements, not " + dtype);
        return dtype;
    }

    public static long sizeOf(int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public Storage storage() { return storage; }
    public long offset() { return offset; }
    public DType dtype() { return storage.dtype(); }
    /** Bytes this view covers. */
    public long bytes() { return size * storage.dtype().size; }
    public long size() { return size; }
    public int rank() { return shape.length; }
    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public int[] shape() { return shape.clone(); }

    /** A view of {@code shape} starting {@code elementOffset} elements into this view. */
    public Tensor view(long elementOffset, int... shape) {
        long n = sizeOf(shape);
        if (elementOffset < 0 || elementOffset + n > size)
            throw new IllegalArgumentException("sub-view [" + elementOffset + ", " + (elementOffset + n)
                    + ") outside tensor of " + size + " elements " + Arrays.toString(this.shape));
        return new Tensor(storage, offset + elementOffset, shape);
    }

    /** The same elements with another shape of equal size. */
    public Tensor reshape(int... shape) {
        if (sizeOf(shape) != size)
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(this.shape)
                    + " to " + Arrays.toString(shape));
        return new Tensor(storage, offset, shape);
    }

    /** Row {@code i} of the leading dimension (rank drops by one). */
    public Tensor row(int i) {
        int[] rest = Arrays.copyOfRange(shape, 1, shape.length);
        return view((long) i * sizeOf(rest), rest);
    }

    @Override public String toString() {
        return "Tensor" + Arrays.toString(shape) + (dtype() == DType.F32 ? "" : " " + dtype());
    }
}
