package vit22b.testing;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;

/** The element-wise bound catches the one wrong element that a whole-array norm lets through. */
class CheckTest {
    @Test void oneWrongElementPassesTheNormButNotTheElementwiseBound() {
        long seed = System.nanoTime();
        System.out.println("CheckTest seed " + seed);
        float[] ref = Check.randn(seed, 10_000, 1.0);
        double[] r = Check.toDouble(ref);
        float[] out = ref.clone();
        int i = (int) Math.floorMod(seed, 10_000L);
        out[i] = ref[i] + 1.0f;   // off by about one standard deviation, alone
        assertTrue(Check.relErr(out, r) < 2e-2, "the old 2e-2 whole-array tolerance passes it");
        double[] floor = new double[r.length];
        Arrays.fill(floor, 1e-6);
        AssertionError e = assertThrows(AssertionError.class, () -> Check.assertElementwise("planted", out, r, 2e-3, floor));
        assertTrue(e.getMessage().contains("1 of 10000") && e.getMessage().contains("[" + i + "]"), e.getMessage());
        out[i] = ref[i];
        Check.assertElementwise("clean", out, r, 2e-3, floor);
        out[i] = Float.NaN;
        assertThrows(AssertionError.class, () -> Check.assertElementwise("NaN", out, r, 2e-3, floor));
    }
}
