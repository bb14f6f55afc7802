package vit22b.tensor;

/**
 * bfloat16, the top 16 bits of a float32 (sign, 8 exponent bits, 7 mantissa bits), and the one
 * definition of float32 -> bf16 rounding every backend matches bit for bit: round to nearest,
 * ties to even; NaN stays NaN (made quiet, sign and top payload bits kept, so a NaN whose
 * payload sits in the low 16 bits does not become Inf); +-Inf stay; finite values past the
 * largest bf16 (3.3895e38) round to Inf as IEEE overflow does; float32 subnormals round like
 * any other value (bf16 has the same exponent range, so they stay subnormal or become 0 or
 * the smallest normal).
 */
public final class Bf16 {
    private Bf16() {}

    /** The bf16 bits nearest to {@code f}. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x0040);
        // Adding 0x7fff plus the kept part's lowest bit carries into the kept bits exactly when
        // the dropped half is above one half, or equal to it with an odd kept part (ties to
        // even); a carry out of the mantissa bumps the exponent, up to Inf.
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The float32 value of bf16 bits (exact). */
    public static float toFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** {@code f} rounded to the nearest bf16, as a float32. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }

    /** Whether {@code f} is a bf16 value (its low 16 bits are zero). */
    public static boolean representable(float f) {
        return (Float.floatToRawIntBits(f) & 0xffff) == 0;
    }
}
