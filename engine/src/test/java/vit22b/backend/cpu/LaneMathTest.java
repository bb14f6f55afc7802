package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import jdk.incubator.vector.FloatVector;

import org.junit.jupiter.api.Test;

/** {@link LaneMath#exp} against Math.exp in float64 over the whole float range. */
class LaneMathTest {

    /** Lane-wise exp of a whole array. */
    static float[] exp(float[] x) {
        float[] y = new float[x.length];
        int i = 0;
        for (; i < Vec.S.loopBound(x.length); i += Vec.L)
            LaneMath.exp(FloatVector.fromArray(Vec.S, x, i)).intoArray(y, i);
        for (; i < x.length; i++) y[i] = LaneMath.exp(FloatVector.broadcast(Vec.S, x[i])).lane(0);
        return y;
    }

    /** Error of y in units of the float spacing at the exact value e (the smallest subnormal below the normals). */
    static double ulps(float y, double e) {
        if (Float.isInfinite((float) e) || Float.isInfinite(y)) return (float) e == y ? 0 : Double.POSITIVE_INFINITY;
        return Math.abs(y - e) / Math.ulp((float) e);
    }

    static double maxUlps(float[] x) {
        float[] y = exp(x);
        double worst = 0;
        for (int i = 0; i < x.length; i++) {
            double u = ulps(y[i], Math.exp(x[i]));
            if (!(u <= 2)) throw new AssertionError("exp(" + x[i] + ") = " + y[i] + ", exact " + Math.exp(x[i]) + ": " + u + " ulp");
            worst = Math.max(worst, u);
        }
        return worst;
    }

    @Test
    void within2UlpOverEveryBitPatternStride() {
        // every 509th bit pattern: all exponents, both signs, NaNs included (checked below)
        int n = (int) ((1L << 32) / 509);
        float[] x = new float[n];
        int k = 0;
        for (long b = 0; b < (1L << 32) && k < n; b += 509) {
            float f = Float.intBitsToFloat((int) b);
            if (!Float.isNaN(f)) x[k++] = f;
        }
        double worst = maxUlps(java.util.Arrays.copyOf(x, k));
        System.out.printf("LaneMath.exp: %d bit patterns, max error %.3f ulp%n", k, worst);
    }

    @Test
    void within2UlpWhereTheResultIsFiniteAndNonzero() {
        long seed = System.nanoTime();
        System.out.println("LaneMathTest seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[2_000_000];
        for (int i = 0; i < x.length; i++) x[i] = (float) (-105 + 195 * r.nextDouble());
        double worst = maxUlps(x);
        System.out.printf("LaneMath.exp: %d values in [-105, 90], max error %.3f ulp%n", x.length, worst);
        assertTrue(worst > 0.3, "the check itself must see rounding");
    }

    @Test
    void specialValuesAndTheEdgesOfTheRange() {
        float maxFinite = 88.72283f;   // the largest float whose exp is finite
        float[] x = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, 1f, -1f, maxFinite, Math.nextUp(maxFinite), 89f, 1000f,
                Float.MAX_VALUE, Float.POSITIVE_INFINITY, -87.33655f, -87.4f, -100f, -103.2789f, -103.9721f, -104f,
                -1000f, -Float.MAX_VALUE, Float.NEGATIVE_INFINITY, 0.34657359f, -0.34657359f};
        maxUlps(x);
        float[] y = exp(x);
        assertEquals(1f, y[0]);
        assertEquals(1f, y[1]);
        assertTrue(Float.isFinite(y[6]) && y[6] > 3.4e38f, "exp(88.72283) = " + y[6]);
        assertEquals(Float.POSITIVE_INFINITY, y[7]);
        assertEquals(Float.POSITIVE_INFINITY, y[11]);
        assertEquals(0f, y[20]);
        assertTrue(y[15] > 0 && y[15] <= 2 * Float.MIN_VALUE, "exp(-103.2789) = " + y[15]);
        float[] nan = exp(new float[] {Float.NaN, Float.intBitsToFloat(0x7fc00001), Float.intBitsToFloat(0xffc00000)});
        for (float v : nan) assertTrue(Float.isNaN(v), "exp(NaN) = " + v);
    }
}
