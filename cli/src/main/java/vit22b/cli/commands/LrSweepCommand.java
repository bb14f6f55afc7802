package vit22b.cli.commands;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.cpu.CpuBackend;
import vit22b.cli.options.OptimizerOptions;
import vit22b.cli.options.Streams;
import vit22b.cli.options.TrainDataOptions;
import vit22b.data.Dataset;
import vit22b.data.Datasets;
import vit22b.data.Split;
import vit22b.experiment.Compare;
import vit22b.experiment.LrSweep;
import vit22b.experiment.SweepReport;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;

@Command(name = "lr-sweep", mixinStandardHelpOptions = true,
        description = {"Train the same small model at log-spaced peak learning rates with the paper's block and with "
                + "one choice changed (same seed, initialisation stream and data order), on the CPU.",
                "Writes DIR/lr-sweep-COMPARE.json (final and best loss, divergence, per-layer max attention logit and "
                + "min attention entropy per run), DIR/lr-sweep-COMPARE-final-loss.png and -attn-logit.png."})
public final class LrSweepCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Option(names = "--compare", required = true, description = "The choice to vary: qk-norm, parallel or biases.")
    String compare;
    @Option(names = "--model", defaultValue = "vit-micro-fmnist", description = "Preset.")
    String model;
    @Option(names = "--patch", defaultValue = "7", description = "Patch size (the demo's 16 tokens).")
    int patch;
    @Mixin DataOptions data;
    @Mixin OptimizerOptions optim;
    @Mixin TrainDataOptions loader;
    @Option(names = "--lrs", split = ",", description = "Peak learning rates, comma-separated (default: --points log-spaced from --lr-min to --lr-max).")
    List<Double> lrs;
    @Option(names = "--lr-min", defaultValue = "1e-3", description = "Smallest peak rate.")
    double lrMin;
    @Option(names = "--lr-max", defaultValue = "3e-1", description = "Largest peak rate.")
    double lrMax;
    @Option(names = "--points", defaultValue = "6", description = "Log-spaced rates from --lr-min to --lr-max.")
    int points;
    @Option(names = "--steps", defaultValue = "400", description = "Updates per run.")
    long steps;
    @Option(names = "--batch", defaultValue = "128", description = "Images per update.")
    int batch;
    @Option(names = "--warmup", description = "Linear warmup steps (default: 10%% of --steps).")
    Long warmup;
    @Option(names = "--cooldown", description = "Linear cooldown steps (default: 30%% of --steps).")
    Long cooldown;
    @Option(names = "--head-wd", defaultValue = "0.03", description = "Head weight decay (the demo's).")
    float headWd;
    @Option(names = "--seed", defaultValue = "0", description = "Initialisation and data-order seed, the same for every run.")
    long seed;
    @Option(names = "--log-every", defaultValue = "5", description = "Steps between loss and attention measurements.")
    int logEvery;
    @Option(names = "--threshold", defaultValue = "1.0", description = "A run trains when its final loss is below this.")
    double threshold;
    @Option(names = "--quick", description = "A trimmed sweep for CI: 2 rates (--lr-min and --lr-max unless --lrs), 40 steps "
            + "of 32 on 2048 images, measured every 2 steps (each unless given explicitly)")
    boolean quick;
    @Option(names = "--out", description = "Output folder (default: runs/lr-sweep-COMPARE).")
    Path out;

    @Override public Integer call() throws Exception {
        Compare cmp = Compare.parse(compare);
        if (quick) {   // CI's trimmed sweep; options given explicitly still win
            var given = spec.commandLine().getParseResult();
            if (lrs == null) lrs = List.of(lrMin, lrMax);
            if (!given.hasMatchedOption("--steps")) steps = 40;
            if (!given.hasMatchedOption("--batch")) batch = 32;
            if (!given.hasMatchedOption("--log-every")) logEvery = 2;
            if (!given.hasMatchedOption("--train-limit")) loader.trainLimit = 2048;
        }
        List<Double> rates = lrs != null ? lrs : logSpaced(lrMin, lrMax, points);
        Dataset train = data.open(Split.TRAIN);
        if (loader.trainLimit > 0) train = Datasets.first(train, loader.trainLimit);
        ModelConfig preset = Presets.get(model).withPatch(patch);
        ModelConfig cfg = preset.withImage(preset.imageSize(), train.channels()).withClasses(train.numClasses())
                .withLoss(LossKind.SIGMOID);
        // Sigmoid loss starts each class at the prior 1/classes, as vit train does.
        cfg = cfg.withHeadBiasInit(cfg.classes() > 1 ? (float) -Math.log(cfg.classes() - 1) : 0f);
        var s = new LrSweep.Settings(cfg, rates, steps, batch, warmup != null ? warmup : steps / 10,
                cooldown != null ? cooldown : steps * 3 / 10, optim.wd, headWd, optim.clip, seed, logEvery, threshold, loader.workers,
                data.skipBad);
        Path dir = out != null ? out : Path.of("runs", "lr-sweep-" + cmp.flag());
        Files.createDirectories(dir);
        PrintStream text = Streams.printStream(spec.commandLine().getOut());
        text.printf(Locale.ROOT, "lr-sweep %s vs %s: %s, %d rates x 2, %d steps of %d on %d images%n",
                cmp.paperArm, cmp.otherArm, cfg.name(), rates.size(), steps, batch, train.size());
        long t0 = System.nanoTime();
        LrSweep.Result r;
        try (CpuBackend be = new CpuBackend()) {
            r = LrSweep.run(be, train, s, cmp, dir.resolve("runs"), text);
        }
        double minutes = (System.nanoTime() - t0) / 60e9;
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("data", data.data);
        extra.put("train_images", train.size());
        extra.put("wall_minutes", minutes);
        extra.put("cpu_threads", Runtime.getRuntime().availableProcessors());
        extra.put("command", "vit experiment lr-sweep --compare " + cmp.flag()
                + (quick ? " --quick" : "") + " (see the settings above)");
        Path json = dir.resolve("lr-sweep-" + cmp.flag() + ".json");
        SweepReport.writeJson(r, json, extra);
        var pngs = SweepReport.plots(r, dir, "lr-sweep-" + cmp.flag());
        for (var g : SweepReport.ranges(r))
            text.printf(Locale.ROOT, "%-11s trains (final loss < %.3g) at %d of %d rates%s%n", g.arm(), threshold,
                    g.trained(), g.runs(), g.lowest().isEmpty() ? ""
                            : String.format(Locale.ROOT, ": %.3g to %.3g", g.lowest().get(), g.highest().get()));
        text.printf(Locale.ROOT, "%.1f min; table: %s%nplots: %s, %s%n", minutes, json, pngs.get(0), pngs.get(1));
        return 0;
    }

    /** n rates from lo to hi, evenly spaced in log. */
    static List<Double> logSpaced(double lo, double hi, int n) {
        if (!(lo > 0) || !(hi >= lo) || n < 1)
            throw new IllegalArgumentException("need 0 < --lr-min <= --lr-max and --points >= 1; got " + lo + ", " + hi + ", " + n);
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double v = n == 1 ? lo : Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * i / (n - 1));
            out.add(Double.parseDouble(String.format(Locale.ROOT, "%.3g", v)));   // round to 3 digits for names and tables
        }
        return out;
    }
}
