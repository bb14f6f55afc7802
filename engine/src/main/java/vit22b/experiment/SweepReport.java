package vit22b.experiment;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import vit22b.io.ConfigJson;
import vit22b.train.Plots;

/** A sweep's JSON table and its two plots. */
public final class SweepReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private SweepReport() {}

    /** The rates at which an arm trains (final loss below the threshold, not diverged). */
    public record Range(String arm, Optional<Double> lowest, Optional<Double> highest, int trained, int runs) {}

    public static List<Range> ranges(LrSweep.Result r) {
        List<Range> out = new ArrayList<>();
        for (String arm : List.of(r.compare().paperArm, r.compare().otherArm)) {
            var runs = r.runs().stream().filter(x -> x.arm().equals(arm)).toList();
            var ok = runs.stream().filter(LrSweep.Run::trains).map(LrSweep.Run::lr).toList();
            out.add(new Range(arm, ok.stream().min(Double::compare), ok.stream().max(Double::compare), ok.size(), runs.size()));
        }
        return out;
    }

    /** Writes {@code file}: settings, per-run figures and traces, and each arm's trainable range. */
    public static void writeJson(LrSweep.Result r, Path file, Map<String, Object> extra) throws IOException {
        var s = r.settings();
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("experiment", "lr-sweep");
        o.put("compare", r.compare().flag());
        o.put("model", JSON.readTree(ConfigJson.toJson(s.model())));
        o.put("lrs", s.lrs());
        o.put("steps", s.steps());
        o.put("batch", s.batch());
        o.put("warmup", s.warmup());
        o.put("cooldown", s.cooldown());
        o.put("schedule", "rsqrt");
        o.put("wd", s.wd());
        o.put("head_wd", s.headWd());
        o.put("clip", s.clip());
        o.put("seed", s.seed());
        o.put("log_every", s.logEvery());
        o.put("threshold", s.threshold());
        o.put("definitions", Map.of(
                "final_loss", "mean logged training loss over the last tenth of the logged steps (null: stopped on a non-finite value)",
                "best_loss", "lowest moving mean of the logged training loss over a tenth of the logged steps",
                "diverged", "stopped on a non-finite loss or gradient, or final loss above the initial loss",
                "trains", "not diverged and final loss below the threshold",
                "max_attn_logit", "per layer: largest |attention logit| (what enters the softmax) over the logged steps",
                "min_attn_entropy", "per layer: smallest mean attention entropy (nats) over the logged steps"));
        o.putAll(extra);
        List<Map<String, Object>> runs = new ArrayList<>();
        for (var x : r.runs()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("arm", x.arm());
            m.put("flags", x.variant().flags());
            m.put("lr", x.lr());
            m.put("diverged", x.diverged());
            m.put("stop", x.stop());
            m.put("trains", x.trains());
            m.put("steps_run", x.stepsRun());
            m.put("initial_loss", finite(x.initialLoss()));
            m.put("final_loss", finite(x.finalLoss()));
            m.put("best_loss", finite(x.bestLoss()));
            m.put("max_attn_logit", finite(x.maxAttnLogit()));
            m.put("min_attn_entropy", finite(x.minAttnEntropy()));
            m.put("seconds", x.seconds());
            m.put("trace_step", x.traceStep());
            m.put("trace_max_attn_logit", finite(x.traceMaxLogit()));
            runs.add(m);
        }
        o.put("runs", runs);
        Map<String, Object> ranges = new LinkedHashMap<>();
        for (Range g : ranges(r))
            ranges.put(g.arm(), Map.of("lowest_lr_that_trains", g.lowest().map(Object.class::cast).orElse("none"),
                    "highest_lr_that_trains", g.highest().map(Object.class::cast).orElse("none"),
                    "runs_that_train", g.trained(), "runs", g.runs()));
        o.put("ranges", ranges);
        if (file.toAbsolutePath().getParent() != null) Files.createDirectories(file.toAbsolutePath().getParent());
        JSON.writeValue(file.toFile(), o);
    }

    /**
     * Two PNGs: final loss against log10 of the peak rate, one curve per arm (runs that stopped
     * on a non-finite value are drawn at the largest initial loss); and log10 of the largest
     * |attention logit| against step for the highest stable and the lowest unstable rate of the
     * non-paper arm, both arms at each (Figure 1's view). Returns the files written.
     */
    public static List<Path> plots(LrSweep.Result r, Path dir, String prefix) throws IOException {
        double cap = r.runs().stream().mapToDouble(LrSweep.Run::initialLoss).filter(Double::isFinite).max().orElse(1);
        List<Plots.Series> loss = new ArrayList<>();
        for (String arm : List.of(r.compare().paperArm, r.compare().otherArm)) {
            var runs = r.runs().stream().filter(x -> x.arm().equals(arm)).toList();
            double[] x = new double[runs.size()], y = new double[runs.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = Math.log10(runs.get(i).lr());
                y[i] = Double.isFinite(runs.get(i).finalLoss()) ? runs.get(i).finalLoss() : cap;
            }
            loss.add(new Plots.Series(arm, x, y));
        }
        Path lossPng = dir.resolve(prefix + "-final-loss.png");
        Plots.line(lossPng, "final training loss vs peak learning rate",
                "log10 peak learning rate", "final loss (non-finite runs at " + String.format(java.util.Locale.ROOT, "%.2f", cap) + ")", loss);

        String other = r.compare().otherArm;
        var otherRuns = r.runs().stream().filter(x -> x.arm().equals(other)).toList();
        Optional<Double> stable = otherRuns.stream().filter(x -> !x.diverged()).map(LrSweep.Run::lr).max(Double::compare);
        Optional<Double> unstable = otherRuns.stream().filter(LrSweep.Run::diverged).map(LrSweep.Run::lr)
                .filter(lr -> stable.isEmpty() || lr > stable.get()).min(Double::compare);
        List<Plots.Series> logit = new ArrayList<>();
        for (Optional<Double> lr : List.of(stable, unstable)) {
            if (lr.isEmpty()) continue;
            for (var x : r.runs()) {
                if (x.lr() != lr.get()) continue;
                double[] st = new double[x.traceStep().length], y = new double[st.length];
                for (int i = 0; i < st.length; i++) { st[i] = x.traceStep()[i]; y[i] = Math.log10(Math.max(x.traceMaxLogit()[i], 1e-30)); }
                logit.add(new Plots.Series(x.arm() + " lr " + String.format(java.util.Locale.ROOT, "%.3g", x.lr()), st, y));
            }
        }
        Path logitPng = dir.resolve(prefix + "-attn-logit.png");
        Plots.line(logitPng, "max |attention logit| over layers; " + other + "'s highest stable, lowest unstable lr",
                "step", "log10 max |attention logit|", logit);
        return List.of(lossPng, logitPng);
    }

    private static Double finite(double v) { return Double.isFinite(v) ? v : null; }

    private static Double[] finite(double[] a) {
        Double[] o = new Double[a.length];
        for (int i = 0; i < a.length; i++) o[i] = finite(a[i]);
        return o;
    }
}
