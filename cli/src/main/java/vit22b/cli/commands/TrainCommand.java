package vit22b.cli.commands;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.Backend;
import vit22b.cli.options.BackendOption;
import vit22b.cli.options.AccumOption;
import vit22b.cli.options.SplitOptions;
import vit22b.cli.options.TrackingOptions;
import vit22b.data.Augmentation;
import vit22b.data.Dataset;
import vit22b.data.Datasets;
import vit22b.data.Split;
import vit22b.eval.Evaluate;
import vit22b.eval.LabeledImages;
import vit22b.io.ModelFiles;
import vit22b.io.ModelMetadata;
import vit22b.model.Init;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.train.AdamW;
import vit22b.train.Checkpoints;
import vit22b.train.LoaderBatches;
import vit22b.train.LrSchedule;
import vit22b.train.MetricsWriter;
import vit22b.train.Plots;
import vit22b.train.Progress;
import vit22b.train.Trainer;
import vit22b.train.Weights;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a ViT with the ViT-22B recipe (AdamW with separate head/body decay, rsqrt schedule with "
                + "warmup and cooldown, global-norm clipping, sigmoid cross-entropy) on the CPU.",
                "--demo: the README's main job, a small model on Fashion-MNIST evaluated on its test set."})
public final class TrainCommand implements Callable<Integer> {
    /** The demo's recipe: see the README; every value can still be overridden by its flag. */
    static final String DEMO_MODEL = "vit-micro-fmnist";
    static final Integer DEMO_PATCH = 7;
    static final int DEMO_EPOCHS = 10, DEMO_BATCH = 128, DEMO_WARMUP = 300;
    static final double DEMO_LR = 4e-3, DEMO_MIN_AREA = 1.0, DEMO_HEAD_WD = 0.03;

    @Mixin VariantOptions variant;
    @Spec CommandSpec spec;
    @Mixin BackendOption backend;
    @Mixin TrackingOptions tracking;
    @Mixin SplitOptions splits;
    @Mixin AccumOption accum;
    @Option(names = "--demo", description = "train the README's Fashion-MNIST demo (defaults below change to the demo's)")
    boolean demo;
    @Option(names = "--model", description = "preset (vit info lists them); default vit-micro-fmnist")
    String model;
    @Option(names = "--data", description = "fashion-mnist, or a directory: IDX files, CIFAR-10 batches or class folders (no default: required unless --demo)")
    String data;
    @Option(names = "--steps", description = "updates to run (no default: give --steps or --epochs; the demo runs 10 epochs)")
    Long steps;
    @Option(names = "--epochs", description = "passes over the training set (sets --steps; no default, the demo runs 10)")
    Double epochs;
    @Option(names = "--batch", description = "images per update (default 256; demo 128)")
    Integer batch;
    @Option(names = "--lr", description = "peak learning rate (default 1e-3, the paper's)")
    Double lr;
    @Option(names = "--warmup", description = "linear warmup steps (default 10000 capped at 10%% of the run)")
    Long warmup;
    @Option(names = "--cooldown", description = "linear cooldown over the last N steps (default 30000 capped at 30%% of the run)")
    Long cooldown;
    @Option(names = "--schedule", defaultValue = "rsqrt", description = "rsqrt or cosine")
    String schedule;
    @Option(names = "--wd", defaultValue = "0.03", description = "decoupled weight decay of the body")
    float wd;
    @Option(names = "--head-wd", description = "decoupled weight decay of the head (default 3.0, the paper's)")
    Float headWd;
    @Option(names = "--head-bias-init", description = "classifier bias at init (default: -ln(classes - 1) for sigmoid, 0 for softmax)")
    Float headBiasInit;
    @Option(names = "--clip", defaultValue = "1.0", description = "global gradient-norm clip, 0 for none")
    float clip;
    @Option(names = "--loss", defaultValue = "sigmoid", description = "sigmoid or softmax cross-entropy")
    String loss;
    @Option(names = "--no-flip", description = "no random horizontal flip")
    boolean noFlip;
    @Option(names = "--min-crop-area", description = "inception crop's smallest area fraction (default 0.08; 1 = no crop)")
    Double minCropArea;
    @Option(names = "--out", description = "run directory: metrics, plots, checkpoints (default runs/train, demo runs/demo)")
    Path out;
    @Option(names = "--ckpt-every", defaultValue = "1000", description = "checkpoint every N steps, 0 only at the end")
    int ckptEvery;
    @Option(names = "--keep", defaultValue = "3", description = "checkpoints kept")
    int keep;
    @Option(names = "--resume", description = "continue from the newest checkpoint in --out (same flags)")
    boolean resume;
    @Option(names = "--seed", defaultValue = "0", description = "Initialisation, data order and augmentation seed.")
    long seed;
    @Option(names = "--workers", description = "data threads (default: cores - 1)")
    Integer workers;
    @Option(names = "--skip-bad", description = "skip unreadable images (counted) instead of stopping")
    boolean skipBad;
    @Option(names = "--finetune-from", description = "start from this checkpoint or model file (new resolution and classes allowed; default: none, a random initialisation)")
    Path finetuneFrom;
    @Option(names = "--patch", description = "patch size (default: the preset's)")
    Integer patch;
    @Option(names = "--image-size", description = "training resolution (default: the preset's; with --finetune-from, the new one)")
    Integer imageSize;
    @Option(names = "--log-every", defaultValue = "50", description = "metrics line every N steps")
    int logEvery;
    @Option(names = "--eval-every", defaultValue = "500", description = "evaluate every N steps, 0 only at the end")
    int evalEvery;
    @Option(names = "--eval-limit", defaultValue = "2000", description = "validation images for periodic evaluation, 0 all")
    int evalLimit;
    @Option(names = "--test-limit", defaultValue = "0", description = "test images for the final evaluation (0: all)")
    int testLimit;
    @Option(names = "--train-limit", defaultValue = "0", description = "use only the first N training images (0: all)")
    int trainLimit;

    @Override public Integer call() throws Exception {
        String modelName = pick(model, DEMO_MODEL, DEMO_MODEL);
        String dataName = pick(data, "fashion-mnist", null);
        if (dataName == null) throw new IllegalArgumentException("give --data (fashion-mnist or a directory), or use --demo");
        Path given = pick(out, Path.of("runs/demo"), Path.of("runs/train"));
        Path outDir = resume ? given : freshRunDir(given, out != null);
        var held = splits.split(DataPaths.resolve(dataName), DataPaths.open(dataName, Split.TRAIN), seed);
        Dataset train = trainLimit > 0 ? Datasets.first(held.train(), trainLimit) : held.train();
        Dataset test = DataPaths.open(dataName, Split.TEST);

        ModelConfig preset = Presets.get(modelName);
        Integer patchSize = pick(patch, DEMO_PATCH, null);
        if (patchSize != null) preset = preset.withPatch(patchSize);
        int size = imageSize != null ? imageSize : preset.imageSize();
        ModelConfig cfg = preset.withImage(size, train.channels()).withClasses(train.numClasses())
                .withLoss(parseLoss(loss)).withVariant(variant.variant());
        // Sigmoid loss: start each class at the prior 1/classes (the paper's -10 for JFT's ~30k
        // classes is the same idea); otherwise the first steps only push all logits down.
        float bias = headBiasInit != null ? headBiasInit
                : cfg.loss() == LossKind.SIGMOID && cfg.classes() > 1 ? (float) -Math.log(cfg.classes() - 1) : 0f;
        cfg = cfg.withHeadBiasInit(bias);
        int b = pick(batch, DEMO_BATCH, 256);
        long total = steps != null ? steps
                : Math.max(1, Math.round(pick(epochs, (double) DEMO_EPOCHS, Double.NaN) * train.size() / ((double) b * accum.accum)));
        if (steps == null && epochs == null && !demo) throw new IllegalArgumentException("give --steps or --epochs");
        long warm = pick(warmup, (long) DEMO_WARMUP, Math.min(10_000L, total / 10));
        long cool = pick(cooldown, total * 3 / 10, Math.min(30_000L, total * 3 / 10));
        double peak = pick(lr, DEMO_LR, 1e-3);
        LrSchedule sched = LrSchedule.of(schedule, peak, total, warm, cool);
        float headDecay = pick(headWd, (float) DEMO_HEAD_WD, 3.0f);
        double minArea = pick(minCropArea, DEMO_MIN_AREA, Augmentation.PAPER_MIN_AREA);
        var aug = minArea >= 1 ? Augmentation.trainingWithoutCrop(size, cfg.channels(), !noFlip)
                : Augmentation.training(size, cfg.channels(), minArea, !noFlip);

        // Everything that decides the numbers: a resumed run must be started with the same.
        Map<String, Object> recipe = new LinkedHashMap<>();
        recipe.put("model", cfg.toString()); recipe.put("data", dataName); recipe.put("train_images", train.size());
        recipe.put("steps", total); recipe.put("batch", b); recipe.put("lr", peak);
        recipe.put("schedule", sched.toString()); recipe.put("wd", wd); recipe.put("head_wd", headDecay);
        recipe.put("clip", clip); recipe.put("loss", cfg.loss().name()); recipe.put("aug", aug.toString());
        recipe.put("seed", seed); recipe.put("val_fraction", splits.valFraction); recipe.put("accum", accum.accum); recipe.put("finetune_from", String.valueOf(finetuneFrom));
        String recipeJson = new ObjectMapper().writeValueAsString(recipe);
        Map<String, String> runInfo = new LinkedHashMap<>(ModelMetadata.of(cfg, train.classes()));
        runInfo.put("vit22b.recipe", recipeJson);

        Files.createDirectories(outDir);
        Checkpoints ckpts = new Checkpoints(outDir, keep);
        System.out.printf(Locale.ROOT, "train %s (%d params) on %s: %d train images, %d steps of %d, %s%n",
                cfg.name(), new vit22b.model.ParamLayout(cfg).total(), dataName, train.size(), total, b, sched);

        try (Backend be = backend.open(spec.commandLine().getErr()); ViT vit = new ViT(be, cfg);
             AdamW opt = new AdamW(be, vit.layout(), vit.params(), vit.grads(), new AdamW.Config(0.9f, 0.999f, 1e-8f, wd, headDecay, clip))) {
            String start = null;
            if (resume) {
                Path last = ckpts.latest().orElseThrow(() -> new IOException("--resume: no checkpoint in " + outDir
                        + "; start without --resume"));
                Checkpoints.State st = Checkpoints.load(last);
                String saved = st.metadata().get("vit22b.recipe");
                if (!recipeJson.equals(saved))
                    throw new IllegalArgumentException("--resume: " + last + " was made with different settings:\n  saved: "
                            + saved + "\n  now:   " + recipeJson + "\nrerun with the same flags");
                st.restore(vit, opt);
                start = st.dataPosition();
                System.out.println("resumed from " + last + " at step " + st.step());
            } else {
                Init.init(be, vit.layout(), vit.params(), seed);
                if (finetuneFrom != null) {
                    float[] p = Weights.adapt(Weights.read(finetuneFrom), cfg, be.download(vit.params()));
                    be.upload(vit.params(), p);
                    System.out.println("fine-tuning from " + finetuneFrom + " at " + size + " px");
                }
            }
            var eval = LabeledImages.of(held.val(), cfg.channels(), size, evalLimit, skipBad);
            try (MetricsWriter metrics = new MetricsWriter(outDir.resolve("metrics.jsonl"), resume);
                 LoaderBatches batches = LoaderBatches.open(train, aug, b, seed, workers, skipBad, start)) {
                tracking.attach(metrics, outDir, opt.step());
                var settings = new Trainer.Settings(total, b, sched, logEvery, evalEvery, ckptEvery, 256, accum.accum);
                var progress = new Progress(System.out, Progress.stdoutIsTerminal(), opt.step(), total, 30);
                long t0 = System.nanoTime();
                new Trainer(vit, opt, settings, ckpts, metrics, progress, eval, runInfo).run(batches);
                double minutes = (System.nanoTime() - t0) / 60e9;
                if (batches.skipped() > 0) System.out.println("skipped " + batches.skipped() + " unreadable images");
                var full = LabeledImages.of(test, cfg.channels(), size, testLimit, skipBad);
                Evaluate.Score s = Evaluate.score(vit, full, 256);
                metrics.write(Map.of("step", total, "test_accuracy", s.accuracy(), "test_loss", s.loss(),
                        "train_minutes", minutes));
                Path weights = outDir.resolve("model.safetensors");
                ModelFiles.save(weights, vit.layout(), be.download(vit.params()), ModelMetadata.of(cfg, train.classes()));
                var plots = Plots.fromMetrics(metrics.path());
                System.out.printf(Locale.ROOT, "test accuracy %.4f (loss %.4f) on %d images after %.1f min of training%n",
                        s.accuracy(), s.loss(), s.count(), minutes);
                System.out.println("metrics: " + metrics.path() + "\nplots:   " + plots.get(0) + ", " + plots.get(1)
                        + "\nmodel:   " + weights + "\ncheckpoint: " + ckpts.latest().orElseThrow());
            }
        }
        return 0;
    }

    /**
     * A new run never mixes with (or prunes) another run's checkpoints: an explicit --out that
     * holds some is refused; the default folder moves on to the next free "-N" sibling.
     */
    private static Path freshRunDir(Path dir, boolean explicit) throws java.io.IOException {
        if (!holdsCheckpoints(dir)) return dir;
        if (explicit)
            throw new IllegalArgumentException("--out " + dir + " already holds checkpoints of another run; pass --resume"
                    + " to continue it, or choose another --out");
        for (int i = 2; ; i++) {
            Path next = dir.resolveSibling(dir.getFileName() + "-" + i);
            if (!holdsCheckpoints(next)) {
                System.out.println(dir + " holds an earlier run (kept as is); this run writes to " + next);
                return next;
            }
        }
    }

    private static boolean holdsCheckpoints(Path dir) throws java.io.IOException {
        return Files.isDirectory(dir) && !new Checkpoints(dir, 1).steps().isEmpty();
    }

    private <T> T pick(T given, T demoValue, T normal) { return given != null ? given : demo ? demoValue : normal; }

    static LossKind parseLoss(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "sigmoid" -> LossKind.SIGMOID;
            case "softmax" -> LossKind.SOFTMAX;
            default -> throw new IllegalArgumentException("unknown loss '" + s + "'; use sigmoid or softmax");
        };
    }
}
