package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

class BlasTest extends OpTest {

    @ParameterizedTest
    @CsvSource({"false, false", "true, false", "false, true", "true, true"})
    void sgemmWithOffsetsAndStridesMatchesFloat64(boolean ta, boolean tb) {
        int m = 5, n = 7, k = 9, lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 4, off = 11;
        int aRows = ta ? k : m, bRows = tb ? n : k;
        Tensor a = rand(1, off + aRows * lda), b = rand(1, off + bRows * ldb), c = rand(1, off + m * ldc);
        double[] ad = d(a), bd = d(b), want = d(c);
        Blas.sgemm(ta, tb, m, n, k, 0.5f, CpuBackend.seg(a), off, lda, CpuBackend.seg(b), off, ldb,
                2f, CpuBackend.seg(c), off, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int e = 0; e < k; e++)
                    s += ad[off + (ta ? e * lda + i : i * lda + e)] * bd[off + (tb ? j * ldb + e : e * ldb + j)];
                want[off + i * ldc + j] = 0.5 * s + 2 * want[off + i * ldc + j];
            }
        Check.assertClose("sgemm", get(c), want, FWD_TOL);
    }

    @Test
    void pointerAliasesTheSegmentWithoutCopy() {
        Tensor t = rand(1, 16);
        MemorySegment s = CpuBackend.seg(t);
        Blas.Addr p = new Blas.Addr(s, 3);
        p.put(2, 42f);
        assertEquals(42f, s.getAtIndex(HostStorage.F32, 5), "write through the pointer must land in the segment");
        s.setAtIndex(HostStorage.F32, 4, -7f);
        assertEquals(-7f, p.get(1), "write to the segment must be seen through the pointer");
    }

    @Test
    void refusesMatricesOutsideTheSegment() {
        Tensor a = rand(1, 10), b = rand(1, 10), c = rand(1, 10);
        assertThrows(IllegalArgumentException.class, () -> Blas.sgemm(false, false, 4, 4, 4, 1f,
                CpuBackend.seg(a), 0, 4, CpuBackend.seg(b), 0, 4, 0f, CpuBackend.seg(c), 0, 4));
    }
}
