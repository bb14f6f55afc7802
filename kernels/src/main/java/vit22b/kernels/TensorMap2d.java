package vit22b.kernels;

/**
 * A 2D tile-mode TMA descriptor (the CUtensorMap a Hopper kernel takes by value): a row-major
 * {@code rows x cols} matrix of {@code elementBytes}-byte elements (2 = bf16, 4 = fp32) at
 * {@code address}, {@code rowStrideBytes} apart, moved in boxes of {@code boxRows x boxCols}
 * elements, zero fill out of bounds. {@link DeviceRuntime#encodeTensorMap} turns it into the
 * kernel argument's 128 bytes.
 *
 * <p>The constructor enforces what cuTensorMapEncodeTiled would reject (the CUDA driver
 * API's tensor map object management), so a bad map fails here with the field named instead of as
 * CUDA_ERROR_INVALID_VALUE: a 16-byte aligned address, row stride a multiple of 16 bytes below
 * 2^40, dimensions in [1, 2^32], box dimensions in [1, 256], the box's row a multiple of 16 bytes
 * and, when swizzled, no wider than the swizzle span.
 */
public record TensorMap2d(long address, long rows, long cols, long rowStrideBytes, int elementBytes,
                          int boxRows, int boxCols, Swizzle swizzle) {
    /** The shared-memory swizzle of the box; the ordinals are CUtensorMapSwizzle's values. */
    public enum Swizzle {
        NONE(0), B32(32), B64(64), B128(128);

        /** Bytes of one swizzled row span (0: unswizzled, no limit). */
        public final int span;

        Swizzle(int span) { this.span = span; }
    }

    private static final long MAX_DIM = 1L << 32, MAX_STRIDE = 1L << 40;
    private static final int MAX_BOX = 256;

    public TensorMap2d {
        String at = "tensor map " + rows + "x" + cols + " at 0x" + Long.toHexString(address) + ": ";
        if (swizzle == null) throw new IllegalArgumentException(at + "swizzle is null; pass Swizzle.NONE for none");
        if (elementBytes != 2 && elementBytes != 4)
            throw new IllegalArgumentException(at + "element size " + elementBytes + " bytes; only 2 (bf16) and 4 (fp32) are mapped");
        if (address == 0 || address % 16 != 0)
            throw new IllegalArgumentException(at + "the address must be non-null and 16-byte aligned (start at a multiple of "
                    + 16 / elementBytes + " elements)");
        if (rows < 1 || rows > MAX_DIM || cols < 1 || cols > MAX_DIM)
            throw new IllegalArgumentException(at + "rows and cols must lie in [1, 2^32]");
        if (rowStrideBytes % 16 != 0 || rowStrideBytes >= MAX_STRIDE)
            throw new IllegalArgumentException(at + "row stride " + rowStrideBytes + " bytes must be a multiple of 16 below 2^40;"
                    + " pad the rows to a multiple of " + 16 / elementBytes + " elements");
        if (rowStrideBytes < cols * elementBytes)
            throw new IllegalArgumentException(at + "row stride " + rowStrideBytes + " bytes is narrower than a row ("
                    + cols * elementBytes + " bytes)");
        if (boxRows < 1 || boxRows > MAX_BOX || boxCols < 1 || boxCols > MAX_BOX)
            throw new IllegalArgumentException(at + "box " + boxRows + "x" + boxCols + " must have both sides in [1, 256]");
        long boxRow = (long) boxCols * elementBytes;
        if (boxRow % 16 != 0)
            throw new IllegalArgumentException(at + "the box's row (" + boxRow + " bytes) must be a multiple of 16 bytes");
        if (swizzle != Swizzle.NONE && boxRow > swizzle.span)
            throw new IllegalArgumentException(at + "the box's row (" + boxRow + " bytes) is wider than the " + swizzle
                    + " swizzle span (" + swizzle.span + " bytes); narrow the box or widen the swizzle");
    }

    /** Bytes one box occupies in shared memory (what a load's mbarrier transaction count expects). */
    public int boxBytes() { return boxRows * boxCols * elementBytes; }
}
