package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vit experiment}: usage errors, and a two-point sweep end to end on a few Fashion-MNIST images. */
class ExperimentCommandTest {

    @Test void noOrUnknownExperimentOrComparisonIsAUsageError() {
        var none = TrainCommandTest.vit("experiment");
        assertEquals(2, none.code(), none.out() + none.err());
        assertTrue(none.err().contains("lr-sweep"), none.err());
        var unknown = TrainCommandTest.vit("experiment", "lr-storm");
        assertEquals(2, unknown.code(), unknown.out() + unknown.err());
        var cmp = TrainCommandTest.vit("experiment", "lr-sweep", "--compare", "gelu");
        assertEquals(2, cmp.code(), cmp.out() + cmp.err());
        assertTrue(cmp.err().contains("unknown --compare 'gelu'") && cmp.err().contains("qk-norm, parallel, biases"), cmp.err());
    }

    /** 1e3 is far beyond any rate a ViT survives: it must be reported as diverged; 3e-3 must not. */
    @Test void twoPointSweepWritesTheTableAndFlagsAHugeRate(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(DataPaths.FASHION_MNIST), "Fashion-MNIST is not installed");
        var r = TrainCommandTest.vit("experiment", "lr-sweep", "--compare", "qk-norm", "--quick", "--lrs", "3e-3,1e3",
                "--steps", "12", "--batch", "16", "--train-limit", "256", "--workers", "1", "--out", dir.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        JsonNode t = new ObjectMapper().readTree(dir.resolve("lr-sweep-qk-norm.json").toFile());
        assertEquals("qk-norm", t.get("compare").asText());
        assertEquals(4, t.get("runs").size());
        int depth = t.get("model").get("depth").asInt();
        for (JsonNode run : t.get("runs")) {
            for (String f : new String[] {"arm", "flags", "lr", "diverged", "trains", "initial_loss", "final_loss",
                    "best_loss", "max_attn_logit", "min_attn_entropy", "trace_step", "trace_max_attn_logit"})
                assertTrue(run.has(f), f + " missing in " + run);
            assertEquals(depth, run.get("max_attn_logit").size());
            assertEquals(depth, run.get("min_attn_entropy").size());
            boolean huge = run.get("lr").asDouble() == 1e3;
            assertEquals(huge, run.get("diverged").asBoolean(), run.toString());
            if (!huge) {
                assertTrue(run.get("final_loss").asDouble() < run.get("initial_loss").asDouble(), run.toString());
                assertFalse(run.get("trains").asBoolean() && run.get("final_loss").asDouble() >= t.get("threshold").asDouble());
            }
        }
        assertEquals("no-qk-norm", t.get("runs").get(2).get("arm").asText());
        assertEquals("--no-qk-norm", t.get("runs").get(2).get("flags").asText());
        for (String png : new String[] {"lr-sweep-qk-norm-final-loss.png", "lr-sweep-qk-norm-attn-logit.png"})
            assertTrue(Files.size(dir.resolve(png)) > 1000, png);
    }
}
