package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * Row-major single-precision GEMM through OpenBLAS, straight on off-heap segments: the
 * JavaCPP pointer is given the segment's address, so nothing is copied. OpenBLAS threads
 * itself over all cores; callers must not call it from Java-parallel loops for big GEMMs.
 */
final class Blas {
    private Blas() {}

    static {
        Loader.load(openblas.class); // the natives, once, up front
    }

    /** A JavaCPP pointer aimed at an existing native address; owns nothing. */
    static final class Addr extends FloatPointer {
        Addr(MemorySegment s, long floatOffset) {
            address = s.address() + floatOffset * Float.BYTES;
            capacity = limit = s.byteSize() / Float.BYTES - floatOffset;
        }
    }

    /**
     * C = alpha op(A) op(B) + beta C, row-major; op(A) is m x k, op(B) k x n, C m x n.
     * Offsets and leading dimensions are in floats.
     */
    static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                      float beta, MemorySegment c, long cOff, int ldc) {
        if (m == 0 || n == 0) return;
        fits(a, aOff, transA ? k : m, transA ? m : k, lda, "A");
        fits(b, bOff, transB ? n : k, transB ? k : n, ldb, "B");
        fits(c, cOff, m, n, ldc, "C");
        openblas.cblas_sgemm(openblas.CblasRowMajor,
                transA ? openblas.CblasTrans : openblas.CblasNoTrans,
                transB ? openblas.CblasTrans : openblas.CblasNoTrans,
                m, n, k, alpha, new Addr(a, aOff), lda, new Addr(b, bOff), ldb, beta, new Addr(c, cOff), ldc);
    }

    private static void fits(MemorySegment s, long off, int rows, int cols, int ld, String what) {
        if (cols > ld || off < 0 || (rows > 0 && (off + (long) (rows - 1) * ld + cols) * Float.BYTES > s.byteSize()))
            throw new IllegalArgumentException("sgemm: matrix " + what + " (" + rows + " x " + cols + ", ld " + ld
                    + ", offset " + off + ") does not fit its " + s.byteSize() / Float.BYTES + " floats");
    }
}
