package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * The multi-tensor AdamW's chunk table ({@link Kernels#adamwChunks}) against the ranges it cuts:
 * the chunks tile every range exactly, in order, with the range's decay, none longer than
 * {@link Kernels#ADAMW_CHUNK} or crossing a multiple of it (which keeps every chunk but a range's
 * first 16-byte aligned), on random range lists.
 */
class AdamwChunksTest {
    @Test void chunksTileEveryRangeAtChunkBoundaries() {
        long seed = System.nanoTime();
        Random r = new Random(seed);
        for (int trial = 0; trial < 50; trial++) {
            int n = 1 + r.nextInt(6);
            long[] off = new long[n], size = new long[n];
            float[] wd = new float[n];
            long o = r.nextInt(3) == 0 ? (1L << 31) - 5 : r.nextInt(9000);   // offsets past 2^31 need the high word
            for (int i = 0; i < n; i++) {
                o += r.nextInt(3);   // gaps between ranges are left out
                off[i] = o;
                size[i] = r.nextInt(4) == 0 ? 0 : r.nextInt(3 * Kernels.ADAMW_CHUNK);
                wd[i] = r.nextFloat();
                o += size[i];
            }
            int[] t = Kernels.adamwChunks(off, size, wd);
            int c = 0, k = Kernels.ADAMW_CHUNK_INTS;
            for (int i = 0; i < n; i++)
                for (long at = off[i]; at < off[i] + size[i]; c++) {
                    long start = (t[c * k] & 0xffffffffL) | ((long) t[c * k + 1] << 32);
                    int len = t[c * k + 2];
                    assertEquals(at, start, "seed " + seed + ": chunk " + c + " start");
                    assertTrue(len >= 1 && len <= Kernels.ADAMW_CHUNK, "seed " + seed + ": chunk length " + len);
                    assertEquals(start / Kernels.ADAMW_CHUNK, (start + len - 1) / Kernels.ADAMW_CHUNK,
                            "seed " + seed + ": chunk " + c + " crosses a chunk boundary");
                    assertTrue(start == off[i] || start % Kernels.ADAMW_CHUNK == 0, "seed " + seed + ": unaligned chunk");
                    assertEquals(Float.floatToRawIntBits(wd[i]), t[c * k + 3], "seed " + seed + ": decay");
                    at += len;
                }
            assertEquals(c * k, t.length, "seed " + seed + ": chunks beyond the ranges");
        }
    }

    @Test void badRangesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Kernels.adamwChunks(new long[] {-1}, new long[] {4}, new float[] {0}));
        assertThrows(IllegalArgumentException.class, () -> Kernels.adamwChunks(new long[] {0}, new long[] {4}, new float[0]));
    }
}
