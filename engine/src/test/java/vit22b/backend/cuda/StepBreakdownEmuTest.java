package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

import vit22b.backend.Precision;
import vit22b.backend.cuda.OpProfiler.Category;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.Presets;

/**
 * StepBench's MFU breakdown on the emulated device (its times mean nothing there; the code path and
 * the table's arithmetic are what is checked): the profiled step computes what the unprofiled one
 * does, the categories and the gaps add up to the profiled step, the FLOP split adds up to
 * ModelStats' training FLOPs, and each removal leaves out exactly the ops the profile counted.
 */
class StepBreakdownEmuTest {

    @Test
    void breakdownOfATinyBf16StepOnTheEmulatedDevice() {
        if (!EmuLibrary.built()) Gpu.skip("the emulated device is not built (no g++ at build time)");
        ModelConfig c = Presets.get("test-tiny");
        int batch = 2;
        try (CudaBackend be = Gpu.emulated(Precision.BF16)) {
            // Timing brackets ops with events and forwards them through a proxy: the numbers must not move.
            double[] plain = new double[2], profiled = new double[2];
            try (StepBench.Rig r = new StepBench.Rig(be, c, batch, false)) {
                for (int i = 0; i < 2; i++) plain[i] = r.step();
            }
            try (StepBench.Rig r = new StepBench.Rig(be, c, batch)) {
                for (int i = 0; i < 2; i++) {
                    r.prof.begin();
                    profiled[i] = r.step();
                    r.prof.collect();
                }
            }
            System.out.printf("losses direct %s, profiled %s%n", java.util.Arrays.toString(plain), java.util.Arrays.toString(profiled));
            for (int i = 0; i < 2; i++) {
                assertTrue(Double.isFinite(plain[i]), "loss " + plain[i]);
                assertEquals(plain[i], profiled[i], 1e-6 * Math.abs(plain[i]), "step " + i + "'s loss through the profiler");
            }

            StepBreakdown b = StepBench.breakdown(be, "test-tiny", c, batch, 0, 1);   // the emulator is slow: one step of each
            System.out.print(b.table());
            OpProfiler.Timing t = b.timing();
            for (Category k : EnumSet.of(Category.GEMM, Category.ATTENTION, Category.EPILOGUE, Category.NORM, Category.EMBED,
                    Category.LOSS, Category.OPTIMIZER, Category.MEMORY))
                assertTrue(t.ops().get(k) > 0, k + " has no ops in a whole step: " + t.ops());
            t.ms().forEach((k, ms) -> assertTrue(ms >= 0 && Double.isFinite(ms), k + ": " + ms + " ms"));
            assertTrue(t.stepMs() > 0 && b.plainStepMs() > 0);
            // Events inside the step: the ops' sum cannot exceed the step (beyond the timer's rounding).
            assertTrue(b.gapMs() >= -0.01 * t.stepMs(), "ops sum " + t.busyMs() + " ms > step " + t.stepMs() + " ms");
            double percent = b.rows().stream().mapToDouble(StepBreakdown.Row::percent).sum();
            assertEquals(100, percent, 1e-6, "categories and gaps make the whole step");
            double ms = b.rows().stream().mapToDouble(StepBreakdown.Row::ms).sum();
            assertEquals(t.stepMs(), ms, 1e-9 * t.stepMs());
            assertEquals(t.busyMs(), t.byOp().values().stream().mapToDouble(Double::doubleValue).sum(), 1e-9 * t.stepMs(),
                    "the per-op times are the categories' times");

            Map<Category, Double> f = b.flops();
            double train = (double) ModelStats.of(c).flops().trainingPerImage() * batch;
            assertEquals(train, f.values().stream().mapToDouble(Double::doubleValue).sum(), 1e-9 * train);
            assertTrue(f.get(Category.ATTENTION) > 0 && f.get(Category.GEMM) > f.get(Category.ATTENTION));
            for (StepBreakdown.Row r : b.rows())
                if (r.what().equals("gemm"))
                    assertEquals(f.get(Category.GEMM) / (r.ms() / 1e3) / 1e12, r.tflops(), 1e-9 * r.tflops());

            assertEquals(StepBreakdown.variants().size(), b.removals().size());
            for (StepBreakdown.Removal r : b.removals()) {
                int want = r.removed().stream().mapToInt(k -> t.ops().get(k)).sum();
                assertEquals(want, r.skippedOps(), r.label() + " leaves out each op of " + r.removed() + " the profile counted");
                assertTrue(r.stepMs() > 0 && Double.isFinite(r.stepMs()), r.label() + ": " + r.stepMs());
            }
            String json = b.json();
            assertTrue(json.startsWith("{\"name\":\"test-tiny\"") && json.contains("\"removals\":[{\"without\":\"without attention\"")
                    && json.endsWith("]}"), json);
        }
    }

    @Test
    void lossAndTheHostSideCannotBeRemoved() {
        if (!EmuLibrary.built()) Gpu.skip("the emulated device is not built (no g++ at build time)");
        try (CudaBackend be = Gpu.emulated(Precision.BF16); OpProfiler p = new OpProfiler(be)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.remove(Set.of(Category.LOSS)));
            assertTrue(e.getMessage().contains("LOSS cannot be removed"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> p.backend().record(() -> {}));
            assertThrows(IllegalStateException.class, p::collect);
        }
    }
}
