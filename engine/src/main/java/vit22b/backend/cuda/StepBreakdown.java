package vit22b.backend.cuda;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import vit22b.backend.cuda.OpProfiler.Category;
import vit22b.backend.cuda.OpProfiler.Timing;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;

/**
 * What limits a training step's MFU, measured two ways on the same model and batch:
 * <ul>
 * <li>per category ({@link OpProfiler}): device milliseconds of each kind of op summed over one
 * step, its share of the step, and for the kinds that carry model FLOPs (GEMM, attention, patch
 * embedding; split by {@link ModelStats}, so they sum to the step's training FLOPs) the TFLOP/s
 * they reach; "gaps" is the step's device time not inside any op (the device waiting for the host);</li>
 * <li>by removal: the step timed without a category's ops (or with GEMMs only); the time a
 * removal saves against the plain step is what that work costs the step, launch gaps included.</li>
 * </ul>
 */
public record StepBreakdown(String name, int batch, double plainStepMs, Timing timing, Map<Category, Double> flops,
                            List<Removal> removals) {

    /** The step timed without {@code removed}'s ops ({@code skippedOps} of them a step, as counted). */
    public record Removal(String label, Set<Category> removed, double stepMs, int skippedOps) {}

    /** One line of the table. */
    public record Row(String what, int ops, double ms, double percent, double tflops) {}

    /** The removal variants: each removable category alone, then everything but the GEMMs. */
    public static List<Removal> variants() {
        List<Removal> v = new ArrayList<>();
        for (Category c : List.of(Category.ATTENTION, Category.EPILOGUE, Category.NORM, Category.OPTIMIZER, Category.MEMORY))
            v.add(new Removal("without " + c.name().toLowerCase(Locale.ROOT), Set.of(c), Double.NaN, 0));
        Set<Category> allButGemm = Category.REMOVABLE.stream().filter(c -> c != Category.GEMM).collect(Collectors.toSet());
        v.add(new Removal("GEMMs only", allButGemm, Double.NaN, 0));
        return v;
    }

    /**
     * Training FLOPs of one step by category (ModelStats' forward split, times 3 for training, times
     * the batch): GEMM (every linear layer), ATTENTION (q k^T and p v), EMBED (the patch embedding).
     */
    public static Map<Category, Double> flops(ModelConfig c, int batch) {
        double attn = ModelStats.attentionForwardFlopsPerImage(c), embed = ModelStats.patchEmbedForwardFlops(c);
        double all = ModelStats.forwardFlopsPerImage(c);
        Map<Category, Double> f = new EnumMap<>(Category.class);
        f.put(Category.GEMM, 3.0 * batch * (all - attn - embed));
        f.put(Category.ATTENTION, 3.0 * batch * attn);
        f.put(Category.EMBED, 3.0 * batch * embed);
        return f;
    }

    /** Device time of the profiled step not inside any op (negative only by timer rounding). */
    public double gapMs() { return timing.stepMs() - timing.busyMs(); }

    /** The per-category rows (those with ops), then the gaps; percent of the profiled step. */
    public List<Row> rows() {
        List<Row> rows = new ArrayList<>();
        double step = timing.stepMs();
        for (Category c : Category.values()) {
            int ops = timing.ops().get(c);
            if (ops == 0) continue;
            double ms = timing.ms().get(c), f = flops.getOrDefault(c, 0.0);
            rows.add(new Row(c.name().toLowerCase(Locale.ROOT), ops, ms, 100 * ms / step, f > 0 ? f / (ms / 1e3) / 1e12 : Double.NaN));
        }
        rows.add(new Row("gaps", 0, gapMs(), 100 * gapMs() / step, Double.NaN));
        return rows;
    }

    /** The table as text: categories, the profiled and plain steps, then the removals. */
    public String table() {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "step breakdown %s, batch %d: profiled step %.2f ms (device), plain step %.2f ms%n", name, batch, timing.stepMs(), plainStepMs));
        s.append(String.format(Locale.ROOT, "  %-10s %5s %10s %7s %9s%n", "category", "ops", "ms", "% step", "TFLOP/s"));
        for (Row r : rows())
            s.append(String.format(Locale.ROOT, "  %-10s %5d %10.3f %7.1f %9s%n", r.what(), r.ops(), r.ms(), r.percent(),
                    Double.isNaN(r.tflops()) ? "-" : String.format(Locale.ROOT, "%.1f", r.tflops())));
        s.append(String.format(Locale.ROOT, "  %-22s %10s %10s%n", "removal", "step ms", "saved ms"));
        for (Removal r : removals)
            s.append(String.format(Locale.ROOT, "  %-22s %10.3f %10.3f  (%d ops left out a step)%n", r.label(), r.stepMs(),
                    plainStepMs - r.stepMs(), r.skippedOps()));
        return s.toString();
    }

    public String json() {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "{\"name\":\"%s\",\"batch\":%d,\"profiled_step_ms\":%.4f,\"plain_step_ms\":%.4f,\"categories\":[", name, batch,
                timing.stepMs(), plainStepMs));
        List<String> parts = new ArrayList<>();
        for (Row r : rows())
            parts.add(String.format(Locale.ROOT, "{\"category\":\"%s\",\"ops\":%d,\"ms\":%.4f,\"percent\":%.3f%s}", r.what(), r.ops(),
                    r.ms(), r.percent(), Double.isNaN(r.tflops()) ? "" : String.format(Locale.ROOT, ",\"tflops\":%.3f", r.tflops())));
        s.append(String.join(",", parts)).append("],\"ops\":{");
        parts.clear();
        timing.byOp().forEach((op, ms) -> parts.add(String.format(Locale.ROOT, "\"%s\":%.4f", op, ms)));
        s.append(String.join(",", parts)).append("},\"removals\":[");
        parts.clear();
        for (Removal r : removals)
            parts.add(String.format(Locale.ROOT, "{\"without\":\"%s\",\"step_ms\":%.4f,\"saved_ms\":%.4f,\"skipped_ops\":%d}", r.label(),
                    r.stepMs(), plainStepMs - r.stepMs(), r.skippedOps()));
        return s.append(String.join(",", parts)).append("]}").toString();
    }
}
