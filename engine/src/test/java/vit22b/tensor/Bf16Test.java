package vit22b.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * {@link Bf16}'s rounding against one computed here by arithmetic on doubles, not on bits:
 * x / ulp rounded half-to-even by Math.rint (exact: x has at most 24 significant bits), ulp =
 * 2^(e - 7) with e clamped at float32's smallest normal exponent (bf16 shares the exponent range,
 * so subnormals keep a fixed ulp), Inf past the largest bf16. Every special value and a million
 * fresh random bit patterns (seed printed), so NaN payloads, subnormals and ties all occur.
 */
class Bf16Test {
    /** The specials: zeros, infinities, NaNs with payloads high and low, overflow edges, ties, subnormals. */
    static final int[] SPECIALS = {
        0x00000000, 0x80000000, 0x7f800000, 0xff800000,
        0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xff800001, 0xffbfffff,
        0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x7f7f8000, 0x7f7f8001, 0x7f7effff,
        0x3f808000, 0x3f818000, 0xbf808000, 0x3f80ffff, 0x3f807fff,
        0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x00007fff, 0x00008001,
        0x007fffff, 0x00800000, 0x007f8000, 0x00ff8000,
    };

    /** The float nearest x among bf16 values (ties to even), by arithmetic. NaN and Inf are the caller's. */
    static double reference(float x) {
        if (x == 0) return x;
        int e = Math.max(Math.getExponent(x), Float.MIN_EXPONENT);
        double ulp = Math.scalb(1.0, e - 7);
        double r = Math.rint(x / (double) ulp) * ulp;
        double max = Math.scalb(255.0, 120);   // (2 - 2^-7) * 2^127
        return Math.abs(r) > max ? Math.copySign(Double.POSITIVE_INFINITY, x) : r;
    }

    static void check(int bits) {
        float x = Float.intBitsToFloat(bits);
        short b = Bf16.fromFloat(x);
        float got = Bf16.toFloat(b);
        assertEquals(b & 0xffff, Float.floatToRawIntBits(got) >>> 16, "toFloat is the top half");
        assertEquals(Float.floatToRawIntBits(got), Float.floatToRawIntBits(Bf16.round(x)));
        if (Float.isNaN(x)) {
            // a quiet NaN keeping the sign and the payload's top bits
            assertTrue(Float.isNaN(got), () -> String.format("NaN 0x%08x became 0x%04x", bits, b));
            assertEquals(bits & 0xffbf0000, Float.floatToRawIntBits(got) & 0xffbf0000, String.format("NaN 0x%08x", bits));
            assertTrue((b & 0x0040) != 0, String.format("NaN 0x%08x -> 0x%04x not quiet", bits, b));
            return;
        }
        if (Float.isInfinite(x)) {
            assertEquals(x, got);
            return;
        }
        double want = reference(x);
        assertEquals(want, got, 0.0, () -> String.format("bf16(0x%08x = %a)", bits, x));
        assertEquals(Math.copySign(1.0, x), Math.copySign(1.0, got), "sign kept (also of zero)");
        assertTrue(Bf16.representable(got));
    }

    @Test void specials() {
        for (int bits : SPECIALS) check(bits);
        // spot values: ties go to even, overflow to Inf
        assertEquals(1.0f, Bf16.round(Float.intBitsToFloat(0x3f808000)));
        assertEquals(Float.intBitsToFloat(0x3f820000), Bf16.round(Float.intBitsToFloat(0x3f818000)));
        assertEquals(Float.POSITIVE_INFINITY, Bf16.round(Float.MAX_VALUE));
    }

    @Test void randomBits() {
        long seed = System.nanoTime();
        System.err.println("Bf16Test.randomBits seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < 1_000_000; i++) check(r.nextInt());
    }

    @Test void everyBf16IsAFixedPoint() {
        for (int b = 0; b < 65536; b++) {
            float f = Bf16.toFloat((short) b);
            if (Float.isNaN(f)) continue;
            assertEquals((short) b, Bf16.fromFloat(f), String.format("0x%04x", b));
        }
    }
}
