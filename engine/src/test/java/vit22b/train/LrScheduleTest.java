package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LrScheduleTest {

    @Test void rsqrtMatchesPaperFormula() {
        // Paper: peak 1e-3, warmup 10k, cooldown over the last 30k of (here) 100k steps.
        var s = new LrSchedule.Rsqrt(1e-3, 100_000, 10_000, 30_000, 10_000);
        assertEquals(1e-3 * 5_000 / 10_000, s.at(5_000), 1e-15);          // mid-warmup
        assertEquals(1e-3, s.at(10_000), 1e-15);                         // peak
        assertEquals(1e-3 * Math.sqrt(10_000.0 / 40_000), s.at(40_000), 1e-15); // rsqrt decay
        assertEquals(1e-3 * Math.sqrt(10_000.0 / 70_000), s.at(70_000), 1e-15); // cooldown starts after
        double t = 85_000;
        assertEquals(1e-3 * Math.sqrt(10_000.0 / (t - 10_000 + 10_000)) * (100_000 - t + 1) / 30_000, s.at(85_000), 1e-15);
        assertTrue(s.at(100_000) > 0 && s.at(100_000) < s.at(99_999));
    }

    @Test void rsqrtIsMonotoneAfterWarmup() {
        var s = LrSchedule.of("rsqrt", 0.01, 500, 50, 100);
        for (long t = 51; t <= 500; t++) assertTrue(s.at(t) < s.at(t - 1), "step " + t);
        for (long t = 2; t <= 50; t++) assertTrue(s.at(t) > s.at(t - 1), "step " + t);
    }

    @Test void cosineMatchesFormula() {
        var s = new LrSchedule.Cosine(2e-3, 1_000, 100);
        assertEquals(2e-3 * 0.5, s.at(50), 1e-15);
        assertEquals(2e-3, s.at(100), 1e-15);
        double p = (550.0 - 100) / 901;
        assertEquals(2e-3 * 0.5 * (1 + Math.cos(Math.PI * p)), s.at(550), 1e-15);
        assertTrue(s.at(1_000) > 0 && s.at(1_000) < 1e-7);
    }

    @Test void refusesBadSettings() {
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("rsqrt", 1e-3, 100, 100, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("rsqrt", 1e-3, 100, 10, 101));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("linear", 1e-3, 100, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("cosine", -1, 100, 10, 0));
    }
}
