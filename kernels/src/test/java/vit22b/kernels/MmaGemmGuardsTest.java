package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Operands;

/**
 * Kernels.gemmBf16Mma refuses what gemm_bf16_mma cannot do (K >= 1, strides at least as wide as
 * the rows, GELU columns inside N) with a message naming the fix, and launches the rest with the
 * documented shape, choosing the element-wise operand loads where rows are not 16-byte aligned; no GPU.
 */
class MmaGemmGuardsTest {
    static final long BASE = 0x7f00_0000_0000L, C = BASE + 0x100_0000;

    static LaunchTable.Recorder call(Operands o, Epilogue e) {
        LaunchTable.Recorder r = new LaunchTable.Recorder();
        new Kernels(r, null).gemmBf16Mma(o, e);
        return r;
    }

    static String refusal(Operands o, Epilogue e) {
        return assertThrows(IllegalArgumentException.class, () -> call(o, e)).getMessage();
    }

    @Test void launchesAnyMNKWithAlignedRows() {
        // 300 x 129 x 37: K not a multiple of 8 is fine when the row stride is
        LaunchTable.Launch l = call(new Operands(Form.NT, BASE, 40, BASE + 0x10_0000, 40, C, 129, 300, 129, 37),
                Epilogue.plain(true)).launches().get(0);
        assertEquals("gemm_bf16_mma", l.kernel());
        assertEquals(2, l.grid()[0]);
        assertEquals(3, l.grid()[1]);
        assertEquals(Kernels.MMA_THREADS, l.threads());
        assertEquals(64 * 1024, l.sharedBytes());
        assertEquals(Form.NT.ordinal(), l.args()[0]);
        assertTrue(call(new Operands(Form.TN, BASE, 8, BASE, 8, C, 8, 0, 8, 8), Epilogue.plain(false)).launches().isEmpty(),
                "M = 0 launches nothing");
    }

    @Test void refusesKZero() {
        assertTrue(refusal(new Operands(Form.NN, BASE, 64, BASE, 64, C, 64, 64, 64, 0), Epilogue.plain(false)).contains("K >= 1"));
    }

    @Test void oddStridesAndAddressesTakeTheElementWiseLoads() {
        // the kernel's vecLoads argument (after the form): 16-byte cp.async rows only when both operands allow them
        assertEquals(1, call(new Operands(Form.NT, BASE, 64, BASE + 0x10_0000, 64, C, 64, 64, 64, 64), Epilogue.plain(false))
                .launches().get(0).args()[1]);
        assertEquals(0, call(new Operands(Form.NN, BASE, 10, BASE, 64, C, 64, 64, 64, 10), Epilogue.plain(true))
                .launches().get(0).args()[1], "lda = 10: a 10-class head's dy");
        assertEquals(0, call(new Operands(Form.TN, BASE, 64, BASE + 2, 64, C, 64, 64, 64, 64), Epilogue.plain(false))
                .launches().get(0).args()[1], "B one element past a 16-byte boundary");
        for (long off : new long[] {2, 8, 14}) {   // any address not on 16 bytes, of A or of B
            assertEquals(0, call(new Operands(Form.NT, BASE + off, 64, BASE, 64, C, 64, 64, 64, 64), Epilogue.plain(true))
                    .launches().get(0).args()[1], "A at +" + off);
            assertEquals(0, call(new Operands(Form.NN, BASE, 64, BASE + off, 64, C, 64, 64, 64, 64), Epilogue.plain(true))
                    .launches().get(0).args()[1], "B at +" + off);
            assertEquals(0, call(new Operands(Form.NT, BASE, 64 + off / 2, BASE, 64, C, 64, 64, 64, 64), Epilogue.plain(true))
                    .launches().get(0).args()[1], "lda = " + (64 + off / 2));
        }
    }

    @Test void refusesStridesNarrowerThanTheRows() {
        // TN: A is stored K x M, so lda must cover M = 100, not K = 16
        String s = refusal(new Operands(Form.TN, BASE, 16, BASE, 64, C, 64, 100, 64, 16), Epilogue.plain(false));
        assertTrue(s.contains("narrower") && s.contains("A 100"), s);
        s = refusal(new Operands(Form.NT, BASE, 64, BASE, 64, C, 50, 64, 64, 64), Epilogue.plain(false));
        assertTrue(s.contains("ldc=50"), s);
    }

    @Test void refusesGeluColumnsOutsideN() {
        Operands o = new Operands(Form.NT, BASE, 64, BASE, 64, C, 64, 64, 64, 64);
        String s = refusal(o, Epilogue.plain(true).withGelu(0, 40, 30, C + 0x10_0000, 30, 0));
        assertTrue(s.contains("[40, 70)"), s);
        s = refusal(o, Epilogue.plain(true).withGeluBackward(1, 0, 10, 0, 10, 0));
        assertTrue(s.contains("read"), s);
    }
}
