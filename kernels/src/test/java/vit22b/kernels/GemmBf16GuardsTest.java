package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Kernels.gemmBf16 refuses what the kernel cannot do (it copies A and W 16 bytes at a time from
 * the first k on) with a message that says what to change, and launches what it can; no GPU.
 */
class GemmBf16GuardsTest {
    static final long BASE = 0x7f00_0000_0000L;

    /** Calls gemmBf16 on a 64 x 64 x K problem; returns the recorder. */
    static LaunchTable.Recorder call(long a, long w, int K, long lda) {
        LaunchTable.Recorder r = new LaunchTable.Recorder();
        new Kernels(r, null).gemmBf16(a, lda, w, lda, BASE + 0x10_0000, 64, 64, 64, K, 0, 0, 0, 1, 0, 0, 0, 0, 0);
        return r;
    }

    @Test void launchesAlignedOperands() {
        assertEquals(1, call(BASE, BASE + 0x1000 + 16, 64, 64).launches().size());
    }

    @Test void refusesKZero() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> call(BASE, BASE, 0, 64));
        assertTrue(e.getMessage().contains("K > 0") && e.getMessage().contains("K=0"), e.getMessage());
    }

    @Test void refusesKNotAMultipleOf32AndOddStrides() {
        assertThrows(IllegalArgumentException.class, () -> call(BASE, BASE, 40, 64));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> call(BASE, BASE, 64, 68));
        assertTrue(e.getMessage().contains("lda=68"), e.getMessage());
    }

    @Test void refusesBaseAddressesNotOn16Bytes() {
        for (long off : new long[] {2, 8, 14}) {
            IllegalArgumentException ea = assertThrows(IllegalArgumentException.class, () -> call(BASE + off, BASE, 64, 64));
            assertTrue(ea.getMessage().contains("16-byte") && ea.getMessage().contains(Long.toHexString(BASE + off)), ea.getMessage());
            assertThrows(IllegalArgumentException.class, () -> call(BASE, BASE + off, 64, 64));
        }
    }
}
