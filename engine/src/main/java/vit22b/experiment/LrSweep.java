package vit22b.experiment;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import vit22b.backend.Backend;
import vit22b.data.Augmentation;
import vit22b.data.Dataset;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.Variant;
import vit22b.model.ViT;
import vit22b.train.AdamW;
import vit22b.train.LoaderBatches;
import vit22b.train.LrSchedule;
import vit22b.train.MetricsWriter;
import vit22b.train.Trainer;
import vit22b.train.TrainingDivergedException;

/**
 * Final loss against peak learning rate for the paper's block and one variant (the small-scale
 * view of the paper's Figure 1: without QK-norm, attention logits grow and training fails at
 * rates the normed model survives). Every run has the same seed, initialisation stream and
 * data order; only the block and the peak rate differ. Each run's trainer metrics (loss and
 * the per-layer attention statistics the trainer logs) go to {@code dir/RUN/metrics.jsonl}.
 */
public final class LrSweep {
    private LrSweep() {}

    /**
     * What every run shares. The schedule is the paper's rsqrt with {@code warmup} and
     * {@code cooldown}; AdamW (0.9, 0.999) with decoupled decay and global-norm clipping.
     * {@code threshold}: a run "trains" when its final loss is below it.
     */
    public record Settings(ModelConfig model, List<Double> lrs, long steps, int batch, long warmup, long cooldown,
                           float wd, float headWd, float clip, long seed, int logEvery, double threshold,
                           Integer workers, boolean skipBad) {
        public Settings {
            if (lrs.isEmpty()) throw new IllegalArgumentException("give at least one learning rate");
            for (double lr : lrs)
                if (!(lr > 0) || !Double.isFinite(lr))
                    throw new IllegalArgumentException("learning rate " + lr + " must be positive and finite");
            if (steps < 2 || batch <= 0 || logEvery <= 0)
                throw new IllegalArgumentException("steps (>= 2), batch and log interval must be positive: "
                        + steps + ", " + batch + ", " + logEvery);
            if (logEvery > steps / 2)
                throw new IllegalArgumentException("log interval " + logEvery + " leaves fewer than 2 measurements in "
                        + steps + " steps; lower --log-every");
            lrs = List.copyOf(lrs);
        }
    }

    /**
     * One run. Losses are the trainer's logged batch losses (step 1, then every {@code logEvery}
     * steps): {@code initialLoss} that of step 1 (the initial parameters), {@code finalLoss} the mean of the last
     * tenth (NaN when the run stopped on a non-finite value), {@code bestLoss} the lowest such
     * moving mean. {@code diverged}: stopped on a non-finite loss or gradient, or ended above
     * its initial loss. Per layer, over all logged steps: the largest |attention logit| and the
     * smallest mean attention entropy (nats). The trace is the largest |logit| over layers per
     * logged step.
     */
    public record Run(String arm, Variant variant, double lr, boolean diverged, String stop, long stepsRun,
                      double initialLoss, double finalLoss, double bestLoss, boolean trains,
                      double[] maxAttnLogit, double[] minAttnEntropy, long[] traceStep, double[] traceMaxLogit,
                      double seconds) {}

    public record Result(Settings settings, Compare compare, List<Run> runs) {}

    /** Runs every rate for the paper's block, then for {@code compare}'s other block. */
    public static Result run(Backend be, Dataset train, Settings s, Compare compare, Path dir, PrintStream log)
            throws IOException {
        List<Run> runs = new ArrayList<>();
        for (boolean paper : new boolean[] {true, false}) {
            String arm = paper ? compare.paperArm : compare.otherArm;
            Variant v = paper ? Variant.PAPER : compare.other;
            for (double lr : s.lrs()) {
                Run r = one(be, train, s, arm, v, lr, dir.resolve(String.format(Locale.ROOT, "%s-lr%.3g", arm, lr)));
                runs.add(r);
                log.printf(Locale.ROOT, "%-11s lr %-8.3g %s final loss %-8.4f best %-8.4f max|logit| %-9.3g %.0f s%n",
                        arm, lr, r.diverged() ? "DIVERGED" : r.trains() ? "trains  " : "slow    ", r.finalLoss(),
                        r.bestLoss(), max(r.maxAttnLogit()), r.seconds());
            }
        }
        return new Result(s, compare, runs);
    }

    private static Run one(Backend be, Dataset train, Settings s, String arm, Variant v, double lr, Path runDir)
            throws IOException {
        ModelConfig c = s.model().withVariant(v);
        var aug = Augmentation.trainingWithoutCrop(c.imageSize(), c.channels(), true);
        LrSchedule sched = LrSchedule.of("rsqrt", lr, s.steps(), s.warmup(), s.cooldown());
        var ts = new Trainer.Settings(s.steps(), s.batch(), sched, s.logEvery(), 0, 0, 256);
        Path metricsFile = runDir.resolve("metrics.jsonl");
        String stop = null;
        long t0 = System.nanoTime();
        try (ViT vit = new ViT(be, c);
             AdamW opt = new AdamW(be, vit,
                     new AdamW.Config(0.9f, 0.999f, 1e-8f, s.wd(), s.headWd(), s.clip()));
             MetricsWriter metrics = new MetricsWriter(metricsFile, false);
             LoaderBatches data = LoaderBatches.open(train, aug, s.batch(), s.seed(), s.workers(), s.skipBad(), null)) {
            Init.init(be, vit.layout(), vit.params(), s.seed());
            try {
                new Trainer(vit, opt, ts, null, metrics, null, null, Map.of()).run(data);
            } catch (TrainingDivergedException e) {
                String why = String.valueOf(e.getMessage());   // "what at step N; the fix": keep what and where
                stop = why.indexOf(';') < 0 ? why : why.substring(0, why.indexOf(';'));
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return summarise(arm, v, lr, stop, MetricsWriter.read(metricsFile), s.threshold(), seconds);
    }

    /** A run's figures from its metrics rows ({@code stop}: why it stopped early, null if it did not). */
    static Run summarise(String arm, Variant v, double lr, String stop, List<Map<String, Object>> rows,
                         double threshold, double seconds) {
        int n = rows.size();
        double[] loss = new double[n];
        long[] step = new long[n];
        double[] trace = new double[n];
        double[] maxLogit = null, minEntropy = null;
        for (int i = 0; i < n; i++) {
            var r = rows.get(i);
            step[i] = ((Number) r.get("step")).longValue();
            loss[i] = ((Number) r.get("loss")).doubleValue();
            double[] ml = numbers(r.get("attn_max_abs_logit")), me = numbers(r.get("attn_mean_entropy"));
            if (maxLogit == null) {
                maxLogit = new double[ml.length];
                minEntropy = new double[me.length];
                java.util.Arrays.fill(minEntropy, Double.POSITIVE_INFINITY);
            }
            trace[i] = max(ml);
            for (int l = 0; l < ml.length; l++) {
                maxLogit[l] = Math.max(maxLogit[l], ml[l]);
                minEntropy[l] = Math.min(minEntropy[l], me[l]);
            }
        }
        int w = Math.max(1, n / 10);
        double initial = n == 0 || step[0] != 1 ? Double.NaN : loss[0];   // the trainer logs step 1: the initial parameters' loss
        double fin = stop != null || n < w ? Double.NaN : mean(loss, n - w, n);
        double best = Double.NaN;
        for (int i = 0; i + w <= n; i++) {
            double m = mean(loss, i, i + w);
            if (Double.isFinite(m) && !(m >= best)) best = m;
        }
        boolean diverged = stop != null || !(fin <= initial);
        return new Run(arm, v, lr, diverged, stop, n == 0 ? 0 : step[n - 1], initial, fin, best,
                !diverged && fin < threshold, maxLogit == null ? new double[0] : maxLogit,
                minEntropy == null ? new double[0] : minEntropy, step, trace, seconds);
    }

    /** A metrics value that is one number per layer (a JSON array) or one number. */
    private static double[] numbers(Object o) {
        if (o instanceof Number x) return new double[] {x.doubleValue()};
        if (o instanceof List<?> l) {
            double[] a = new double[l.size()];
            for (int i = 0; i < a.length; i++) a[i] = l.get(i) instanceof Number x ? x.doubleValue() : Double.NaN;
            return a;
        }
        throw new IllegalStateException("metrics row lacks the attention statistics the trainer logs: " + o);
    }

    private static double mean(double[] a, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += a[i];
        return s / (to - from);
    }

    static double max(double[] a) {
        double m = Double.NEGATIVE_INFINITY;
        for (double x : a) m = Math.max(m, x);
        return m;
    }
}
