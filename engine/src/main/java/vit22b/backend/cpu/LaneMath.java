package vit22b.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Transcendental functions in float lanes built only from operations whose result IEEE 754
 * fixes exactly (add, mul, fma, min, max, bit moves), so that they give the same bits in the
 * interpreter, in C1 and in C2. The Vector API's own {@code lanewise(EXP)} does not: C2 calls
 * an SVML routine while the interpreter and C1 compute each lane with {@code Math.exp}, and the
 * last bit differs, which made two identical training runs part after a few steps.
 */
final class LaneMath {
    private LaneMath() {}

    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split so that n * LN2_HI is exact for |n| < 2^9 (LN2_HI ends in 9 zero bits). */
    private static final float LN2_HI = 0.693145751953125f, LN2_LO = 1.42860682030941723212e-6f;
    /** 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits. */
    private static final float SHIFT = 12582912f;
    private static final int SHIFT_BITS = Float.floatToRawIntBits(SHIFT);
    /** Below -104 the result rounds to 0 (e^-104 < 2^-150), above 89 to infinity. */
    private static final float LO = -104f, HI = 89f;
    /** 1/k! for k = 7..2: the Taylor polynomial of degree 7 is within 6e-9 of e^r on |r| <= ln2/2. */
    private static final float C7 = 1f / 5040, C6 = 1f / 720, C5 = 1f / 120, C4 = 1f / 24, C3 = 1f / 6, C2 = 0.5f;

    /**
     * e^x per lane within 2 ulp of the exact value (normal results; subnormal ones within one
     * unit of the smallest subnormal), +inf above ~88.72, 0 below ~-103.97, NaN for NaN.
     * x = n ln2 + r with |r| <= ln2/2, e^r by its polynomial, 2^n put into exponent bits in two
     * halves so that results near overflow and in the subnormal range are rounded once.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(LO).min(HI);                       // NaN stays NaN
        FloatVector t = xc.fma(LOG2E, SHIFT);
        FloatVector n = t.sub(SHIFT);
        FloatVector r = n.fma(x.broadcast(-LN2_LO), xc.sub(n.mul(LN2_HI)));   // n LN2_HI and x - n LN2_HI exact (Sterbenz)
        FloatVector p = r.fma(C7, C6).fma(r, x.broadcast(C5)).fma(r, x.broadcast(C4)).fma(r, x.broadcast(C3))
                .fma(r, x.broadcast(C2)).fma(r, x.broadcast(1f)).fma(r, x.broadcast(1f));
        IntVector ni = t.reinterpretAsInts().sub(SHIFT_BITS);     // n as an integer, in [-151, 129]
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1), n2 = ni.sub(n1);
        FloatVector s1 = n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(s1).mul(s2);
    }
}
