package vit22b.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * The chunking every byte upload streams through, checked against the plain definition (chunks
 * in order, contiguous, none empty, none over the byte limit, all full but the last, covering
 * exactly) at sizes past 2^31 bytes and elements, where int arithmetic would overflow, without
 * allocating anything of that size.
 */
class ChunksTest {
    /** Walks the chunks as an upload does and checks each against the definition; returns the count walked. */
    private static long walk(Chunks c) {
        long next = 0, count = 0;
        for (long i = 0; i < c.count(); i++, count++) {
            long from = c.from(i), n = c.length(i);
            assertEquals(next, from, "chunk " + i + " starts where the last ended");
            assertTrue(n > 0, "chunk " + i + " not empty");
            assertTrue(n * c.elementBytes() <= c.maxBytes(), "chunk " + i + " within the byte limit");
            if (i < c.count() - 1) assertEquals(c.maxBytes() / c.elementBytes(), n, "chunk " + i + " full");
            next = from + n;
        }
        assertEquals(c.elements(), next, "the chunks cover every element");
        return count;
    }

    @Test void bf16TensorPastTwoToThe31Bytes() {
        // a ViT-22B-width in_proj (30,720 x 6,144 = 188.7M elements) is far below; this is 3e9 elements, 6 GB
        long elements = 3_000_000_007L;
        Chunks c = new Chunks(elements, 2, 32L << 20);
        assertEquals((elements + (16L << 20) - 1) / (16L << 20), walk(c));
        long last = c.count() - 1;
        assertTrue(c.from(last) * 2 > (1L << 32), "byte offsets past 2^32 are reached");
        assertEquals(elements - last * (16L << 20), c.length(last));
    }

    @Test void f32PastTwoToThe31ElementsWithAnOddLimit() {
        Chunks c = new Chunks((1L << 31) + 3, 4, (1L << 26) + 3);   // a limit that is not a whole number of elements
        assertEquals((1L << 24), c.perChunk());
        walk(c);
    }

    @Test void randomSmallCases() {
        long seed = System.nanoTime();
        System.out.println("ChunksTest seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        for (int t = 0; t < 2000; t++) {
            int size = r.nextBoolean() ? 2 : 4;
            Chunks c = new Chunks(r.nextLong(0, 5000), size, r.nextLong(size, 700));
            walk(c);
        }
        assertEquals(0, new Chunks(0, 2, 64).count());
    }

    @Test void chunkSmallerThanAnElementIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Chunks(10, 4, 3));
        assertThrows(IllegalArgumentException.class, () -> new Chunks(-1, 4, 64));
    }
}
