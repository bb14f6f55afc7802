package vit22b.experiment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.model.Variant;

/** A run's summary from trainer metrics rows, against sums written out here. */
class LrSweepTest {

    /** Rows as the trainer logs them: step 1, then every 5; two layers of attention statistics. */
    private static List<Map<String, Object>> rows(double[] loss, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        System.out.println("LrSweepTest seed " + seed);
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < loss.length; i++)
            out.add(Map.of("step", i == 0 ? 1 : 5 * i, "loss", loss[i],
                    "attn_max_abs_logit", List.of(1 + r.nextDouble(), 10 * r.nextDouble()),
                    "attn_mean_entropy", List.of(2 + r.nextDouble(), r.nextDouble())));
        return out;
    }

    @Test void aRunThatLearnsIsSummarisedFromItsRows() {
        double[] loss = new double[20];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < loss.length; i++) loss[i] = 3.25 * Math.exp(-0.1 * i) + 0.05 * r.nextDouble();
        var rows = rows(loss, 6);
        LrSweep.Run run = LrSweep.summarise("qk-norm", Variant.PAPER, 1e-2, null, rows, 1.0, 1.5);
        // a tenth of 20 rows is 2: final = mean of the last two, best = lowest mean of two neighbours
        assertEquals((loss[18] + loss[19]) / 2, run.finalLoss(), 1e-12);
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i + 2 <= 20; i++) best = Math.min(best, (loss[i] + loss[i + 1]) / 2);
        assertEquals(best, run.bestLoss(), 1e-12);
        assertEquals(loss[0], run.initialLoss());
        assertFalse(run.diverged());
        assertEquals(run.finalLoss() < 1.0, run.trains());
        assertEquals(95, run.stepsRun());
        double[] max = new double[2], min = {Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY};
        for (var row : rows) {
            for (int l = 0; l < 2; l++) {
                max[l] = Math.max(max[l], ((List<?>) row.get("attn_max_abs_logit")).get(l) instanceof Double d ? d : 0);
                min[l] = Math.min(min[l], ((List<?>) row.get("attn_mean_entropy")).get(l) instanceof Double d ? d : 0);
            }
        }
        assertArrayEquals(max, run.maxAttnLogit());
        assertArrayEquals(min, run.minAttnEntropy());
        assertEquals(20, run.traceStep().length);
        assertEquals(Math.max(max[0], max[1]), LrSweep.max(run.traceMaxLogit()));
    }

    @Test void endingAboveTheInitialLossOrStoppingIsDivergence() {
        double[] up = {3.25, 2.0, 5.0, 40, 120, 150, 151, 152, 150, 149};
        var climbed = LrSweep.summarise("no-qk-norm", Variant.PAPER.withQkNorm(false), 0.3, null, rows(up, 7), 1e9, 1);
        assertTrue(climbed.diverged());
        assertFalse(climbed.trains(), "a diverged run never counts as training, whatever the threshold");
        var stopped = LrSweep.summarise("no-qk-norm", Variant.PAPER.withQkNorm(false), 1.0, "loss is NaN at step 12",
                rows(new double[] {3.25, 2.9}, 8), 10, 1);
        assertTrue(stopped.diverged());
        assertTrue(Double.isNaN(stopped.finalLoss()));
        assertEquals(2.9 < 3.25 ? 2.9 : 3.25, stopped.bestLoss());
    }

    @Test void unknownComparisonsNameTheChoices() {
        assertEquals(Compare.QK_NORM, Compare.parse("qk-norm"));
        assertEquals(Variant.PAPER.withParallel(false), Compare.parse("parallel").other);
        var e = assertThrows(IllegalArgumentException.class, () -> Compare.parse("gelu"));
        assertTrue(e.getMessage().contains("'gelu'") && e.getMessage().contains("qk-norm, parallel, biases"), e.getMessage());
    }
}
