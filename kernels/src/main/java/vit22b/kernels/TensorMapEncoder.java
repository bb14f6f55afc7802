package vit22b.kernels;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * cuTensorMapEncodeTiled (CUDA driver API, 12.0+) called through {@link LibCuda} (JCuda 12.6
 * does not bind it). {@link JCudaRuntime#encodeTensorMap} is its one
 * user; {@link TensorMap2d}'s constructor has already checked what the driver would refuse.
 *
 * <pre>
 * CUresult cuTensorMapEncodeTiled(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank,
 *     void* globalAddress, const cuuint64_t* globalDim, const cuuint64_t* globalStrides,
 *     const cuuint32_t* boxDim, const cuuint32_t* elementStrides, CUtensorMapInterleave,
 *     CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
 * </pre>
 * Dimensions run innermost first (cols, rows); globalStrides holds rank - 1 byte strides (the
 * innermost is the element size, implied).
 */
final class TensorMapEncoder {
    private TensorMapEncoder() {}

    /** sizeof(CUtensorMap): 16 64-bit words, 64-byte aligned in the kernel's parameter space. */
    static final int BYTES = 128;
    /** CUtensorMapDataType values for our element sizes. */
    private static final int CU_TENSOR_MAP_DATA_TYPE_FLOAT32 = 7, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9;
    private static final int INTERLEAVE_NONE = 0;
    /** 256-byte L2 promotion: the boxes are wide rows that are read whole. */
    private static final int L2_PROMOTION_256B = 3;
    /** CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE: out-of-bounds elements read as zero. */
    private static final int OOB_FILL_ZERO = 0;

    private static MethodHandle encode;

    private static synchronized MethodHandle encode() {
        if (encode == null)
            encode = LibCuda.downcall("cuTensorMapEncodeTiled", FunctionDescriptor.of(JAVA_INT,
                    ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), "a CUDA 12+ driver (>= 525) for tensor maps");
        return encode;
    }

    /** CUtensorMapDataType of the map's elements. */
    static int dataType(TensorMap2d m) {
        return m.elementBytes() == 2 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
    }

    /** The driver's encoding of {@code m}; a one-line CudaException naming the map when it refuses. */
    static byte[] encode(TensorMap2d m) {
        MethodHandle h = encode();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(BYTES, 64);
            MemorySegment dims = a.allocateFrom(JAVA_LONG, m.cols(), m.rows());
            MemorySegment strides = a.allocateFrom(JAVA_LONG, m.rowStrideBytes());
            MemorySegment box = a.allocateFrom(JAVA_INT, m.boxCols(), m.boxRows());
            MemorySegment elementStrides = a.allocateFrom(JAVA_INT, 1, 1);
            int rc;
            try {
                rc = (int) h.invokeExact(out, dataType(m), 2, MemorySegment.ofAddress(m.address()), dims, strides, box,
                        elementStrides, INTERLEAVE_NONE, m.swizzle().ordinal(), L2_PROMOTION_256B, OOB_FILL_ZERO);
            } catch (Throwable t) {
                throw new CudaException("cuTensorMapEncodeTiled(" + m + ") could not be called: " + t);
            }
            if (rc != 0) throw new CudaException("cuTensorMapEncodeTiled(" + m + ")", rc);
            return out.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }
}
