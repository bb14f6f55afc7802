package vit22b.cli.commands;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.Backend;
import vit22b.cli.options.BackendOption;
import vit22b.cli.options.PrecisionOption;
import vit22b.cli.options.AccumOption;
import vit22b.cli.options.JsonOption;
import vit22b.cli.options.MeshOptions;
import vit22b.cli.options.OptimizerOptions;
import vit22b.cli.options.ModelKindOptions;
import vit22b.cli.options.Streams;
import vit22b.cli.options.SplitOptions;
import vit22b.cli.options.TrainDataOptions;
import vit22b.cli.options.ChannelsOption;
import vit22b.cli.options.TrackingOptions;
import vit22b.cli.options.VectorModule;
import vit22b.data.Augmentation;
import vit22b.data.Dataset;
import vit22b.data.Datasets;
import vit22b.data.Split;
import vit22b.eval.Evaluate;
import vit22b.eval.LabeledImages;
import vit22b.eval.StreamedImages;
import vit22b.graph.Mesh;
import vit22b.mesh.CpuMesh;
import vit22b.mesh.MeshDevices;
import vit22b.mesh.MeshLearner;
import vit22b.mesh.device.DeviceMesh;
import vit22b.backend.Backends;
import vit22b.mesh.MeshTraining;
import vit22b.io.ConfigJson;
import vit22b.io.ModelFiles;
import vit22b.io.ModelMetadata;
import vit22b.model.Init;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.Shard;
import vit22b.model.ViT;
import vit22b.train.AdamW;
import vit22b.train.Checkpoints;
import vit22b.train.Learner;
import vit22b.train.LoaderBatches;
import vit22b.train.LrSchedule;
import vit22b.train.MetricsWriter;
import vit22b.train.Plots;
import vit22b.train.Progress;
import vit22b.train.RunFolder;
import vit22b.train.Trainer;
import vit22b.train.ViTLearner;
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
    static final String RECIPE_KEY = "vit22b.recipe";

    /** Settings a resumed run may change: how long, the learning-rate schedule from here on (recorded in the metrics). */
    static final Set<String> RESUME_MAY_CHANGE_SCHEDULE = Set.of("steps", "lr", "warmup", "cooldown", "schedule");
    /** ... and what is only bookkeeping. */
    static final Set<String> RESUME_MAY_CHANGE = union(RESUME_MAY_CHANGE_SCHEDULE, Set.of("out", "backend", "workers",
            "skip-bad", "ckpt-every", "keep", "log-every", "eval-every", "eval-limit", "test-limit", "tensorboard"));

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> u = new java.util.TreeSet<>(a);
        u.addAll(b);
        return Set.copyOf(u);
    }

    @Mixin VariantOptions variant;
    @Spec CommandSpec spec;
    @Mixin BackendOption backend;
    @Mixin PrecisionOption precision;
    @Mixin TrackingOptions tracking;
    @Mixin SplitOptions splits;
    @Mixin ChannelsOption channels;
    @Mixin AccumOption accum;
    @Mixin ModelKindOptions kinds;
    @Mixin JsonOption json;
    @Mixin MeshOptions meshOptions;
    @Mixin OptimizerOptions optim;
    @Mixin TrainDataOptions loader;
    /** Text output: standard output, or standard error under --json, so stdout holds only the JSON result. */
    private PrintStream text;
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
    @Option(names = "--head-wd", description = "decoupled weight decay of the head (default 3.0, the paper's)")
    Float headWd;
    @Option(names = "--head-bias-init", description = "classifier bias at init (default: -ln(classes - 1) for sigmoid, 0 for softmax)")
    Float headBiasInit;
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
    @Option(names = "--resume", arity = "0..1", fallbackValue = "", paramLabel = "RUN_DIR",
            description = "continue the run in RUN_DIR (default: --out) from its newest whole checkpoint; its config.json "
                    + "gives every setting, flags override it (--steps N extends the run, --lr changes the peak rate from here on; "
                    + "default: a new run)")
    String resume;
    @Option(names = "--config", paramLabel = "FILE",
            description = "settings from a JSON or YAML file (keys: these options' long names); flags given override it "
                    + "(default: none)")
    Path config;
    @Option(names = "--seed", defaultValue = "0", description = "Initialisation, data order and augmentation seed.")
    long seed;
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

    @Override public Integer call() throws Exception {
        text = Streams.printStream(json.json ? spec.commandLine().getErr() : spec.commandLine().getOut());
        boolean resuming = resume != null;
        Path runDir = resuming && !resume.isEmpty() ? Path.of(resume) : null;
        if (resuming && runDir == null && out != null) runDir = out;
        if (config != null) RunConfig.apply(spec, RunConfig.read(config), config, epochsOverride());
        if (resuming) {
            if (runDir == null) runDir = pick(null, Path.of("runs/demo"), Path.of("runs/train"));
            if (!Files.isDirectory(runDir))
                throw new IllegalArgumentException("--resume: " + runDir + " is not a run folder; give the folder a run wrote");
            Path cfgFile = runDir.resolve(RunFolder.CONFIG);
            if (Files.exists(cfgFile)) RunConfig.apply(spec, RunConfig.read(cfgFile), cfgFile, epochsOverride());
            out = runDir;
        }
        checkRanges();
        checkMesh();
        String modelName = pick(model, DEMO_MODEL, DEMO_MODEL);
        String dataName = pick(data, "fashion-mnist", null);
        if (dataName == null) throw new IllegalArgumentException("give --data (fashion-mnist or a directory), or use --demo");
        Path given = pick(out, Path.of("runs/demo"), Path.of("runs/train"));
        DataPaths.resolve(dataName);   // a missing dataset fails before any folder is made
        Path outDir = resuming ? given : freshRunDir(given, out != null);
        try (RunFolder folder = RunFolder.open(outDir)) {
            if (!folder.removedTemporaries().isEmpty())
                text.println("removed " + folder.removedTemporaries().size() + " temporary file(s) of an interrupted save: "
                        + folder.removedTemporaries());
            return train(folder, dataName, modelName);
        }
    }

    /** Every numeric setting in its range, whether from a flag or a config file. */
    private void checkRanges() {
        Ranges.positive("--steps", steps);
        Ranges.positive("--epochs", epochs);
        Ranges.positive("--batch", batch);
        Ranges.positive("--lr", lr);
        Ranges.positive("--patch", patch);
        Ranges.positive("--image-size", imageSize);
        Ranges.positive("--workers", loader.workers);
        Ranges.positive("--keep", keep);
        Ranges.fraction("--min-crop-area", minCropArea);
        Ranges.finite("--head-bias-init", headBiasInit);
        kinds.norm(); kinds.gelu(); kinds.loss();   // an unknown name fails here, before any folder is made
        for (var f : new Object[][] {{"--warmup", warmup}, {"--cooldown", cooldown}, {"--wd", optim.wd}, {"--head-wd", headWd},
                {"--clip", optim.clip}, {"--ckpt-every", ckptEvery}, {"--log-every", logEvery}, {"--eval-every", evalEvery},
                {"--eval-limit", evalLimit}, {"--test-limit", testLimit}, {"--train-limit", loader.trainLimit}})
            Ranges.atLeastZero((String) f[0], (Number) f[1]);
    }

    /** --mesh: one batch per update, fp32; --trace records a mesh's tasks. */
    private void checkMesh() {
        if (meshOptions.parse() == null) {
            if (meshOptions.trace != null)
                throw new IllegalArgumentException("--trace records the tasks of a mesh; give --mesh TxK as well (1x1 for one device)");
            return;
        }
        VectorModule.require();   // a mesh's parameters are initialised and evaluated on CPU backends
        if (accum.accum > 1)
            throw new IllegalArgumentException("--accum is for one device; on a mesh give the update's images as --batch "
                    + "(the data axis splits them)");
        if (precision.value(backend, true) != vit22b.backend.Precision.FP32)
            throw new IllegalArgumentException("--mesh trains in fp32 only for now (the sharded model has no bf16 path); "
                    + "drop --precision " + precision.value(backend, true) + " or train on one device");
    }

    /** --precision, or its default: bf16 on one CUDA device, fp32 on cpu and on a mesh. */
    private vit22b.backend.Precision trainingPrecision() { return precision.value(backend, meshOptions.parse() != null); }

    private boolean cudaMesh() { return !backend.backend.equalsIgnoreCase("cpu"); }

    /** The mesh's devices: CPU threads, or with a CUDA backend every rank on that one device (own streams, device-to-device copies). */
    private MeshDevices meshDevices(Mesh mesh) {
        if (!cudaMesh()) return new CpuMesh(mesh);
        spec.commandLine().getErr().println("backend: " + backend.backend + " (--backend), every rank of mesh " + mesh + " on one device");
        return new DeviceMesh(mesh, Backends.device(backend.backend));
    }

    /** --epochs on the command line wins over a config's steps. */
    private Set<String> epochsOverride() {
        return spec.commandLine().getParseResult().hasMatchedOption("--epochs") ? Set.of("steps") : Set.of();
    }

    private int train(RunFolder folder, String dataName, String modelName) throws Exception {
        Path outDir = folder.dir();
        boolean resuming = resume != null;
        int ch = channels.value();
        var held = splits.split(DataPaths.resolve(dataName), DataPaths.open(dataName, Split.TRAIN, ch), seed, ch);
        Dataset train = loader.trainLimit > 0 ? Datasets.first(held.train(), loader.trainLimit) : held.train();
        Dataset test = DataPaths.open(dataName, Split.TEST, ch);
        Datasets.requireTrainingClasses(test, "the test split of " + DataPaths.resolve(dataName), held.train());

        ModelConfig preset = Presets.get(modelName);
        Integer patchSize = pick(patch, DEMO_PATCH, null);
        if (patchSize != null) preset = preset.withPatch(patchSize);
        int size = imageSize != null ? imageSize : preset.imageSize();
        ModelConfig cfg = preset.withImage(size, train.channels()).withClasses(train.numClasses())
                .withVariant(variant.variant());
        if (kinds.norm() != null) cfg = cfg.withNorm(kinds.norm());
        if (kinds.gelu() != null) cfg = cfg.withGelu(kinds.gelu());
        if (kinds.loss() != null) cfg = cfg.withLoss(kinds.loss());
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

        // The resolved recipe, under the options' names: config.json, and each checkpoint's
        // metadata, which a resume compares with its own.
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", modelName); r.put("patch", patchSize); r.put("image-size", size); r.put("data", dataName);
        r.put("train-limit", loader.trainLimit); r.put("val-fraction", splits.valFraction); r.put("steps", total);
        r.put("batch", b); r.put("accum", accum.accum); r.put("lr", peak); r.put("schedule", schedule);
        r.put("warmup", warm); r.put("cooldown", cool); r.put("wd", optim.wd); r.put("head-wd", headDecay);
        r.put("head-bias-init", bias); r.put("clip", optim.clip); r.put("loss", ConfigJson.lower(cfg.loss()));
        r.put("norm", ConfigJson.lower(cfg.norm())); r.put("gelu", ConfigJson.lower(cfg.gelu())); r.put("no-flip", noFlip);
        r.put("min-crop-area", minArea); r.put("seed", seed);
        r.put("finetune-from", finetuneFrom == null ? null : finetuneFrom.toString()); r.put("backend", backend.backend);
        r.put("precision", trainingPrecision().toString());
        r.put("mesh", meshOptions.mesh);
        r.put("workers", loader.workers); r.put("skip-bad", skipBad); r.put("out", outDir.toString());
        r.put("ckpt-every", ckptEvery); r.put("keep", keep); r.put("log-every", logEvery); r.put("eval-every", evalEvery);
        r.put("eval-limit", evalLimit); r.put("test-limit", testLimit); r.put("tensorboard", tracking.tensorboard);
        r.put("train_images", train.size()); r.put("architecture", cfg);
        ObjectNode recipe = RunConfig.JSON.readValue(RunConfig.JSON.writeValueAsString(r), ObjectNode.class);
        String recipeJson = RunConfig.JSON.writer().without(SerializationFeature.INDENT_OUTPUT).writeValueAsString(recipe);
        Map<String, String> runInfo = new LinkedHashMap<>(ModelMetadata.of(cfg, train.classes()));
        runInfo.put(RECIPE_KEY, recipeJson);

        Checkpoints ckpts = new Checkpoints(outDir, keep);
        text.printf(Locale.ROOT, "train %s (%d params) on %s: %d train images, %d steps of %d, %s%n",
                cfg.name(), new vit22b.model.ParamLayout(cfg).total(), dataName, train.size(), total, b, sched);

        Mesh mesh = meshOptions.parse();
        if (mesh != null) {
            Shard.check(cfg, mesh, b);
            text.println("mesh " + mesh + (cudaMesh() ? " on one CUDA device (" + backend.backend + "): every rank its own compute and "
                    + "communication streams" : " of CPU threads in this JVM") + ": " + mesh.data() + " data x " + mesh.model() + " model shards");
        }
        AdamW.Config optConfig = new AdamW.Config(0.9f, 0.999f, 1e-8f, optim.wd, headDecay, optim.clip);
        // On a mesh the devices hold the model (sharded); no whole copy is made here.
        try (Backend be = mesh == null ? precision.open(backend, spec.commandLine().getErr()) : null;
             ViT vit = mesh == null ? new ViT(be, cfg) : null;
             AdamW opt = mesh == null ? new AdamW(be, vit, optConfig) : null) {
            String start = null;
            Map<String, Object> resumedChange = null;   // logged as a metrics row
            Checkpoints.Snapshot meshStart = null;   // the unsharded state the mesh starts from
            if (resuming) {
                Checkpoints.State st = ckpts.loadNewestGood(text::println).orElseThrow(() -> new IOException(
                        "--resume: no checkpoint in " + outDir + "; start the run without --resume"));
                String savedJson = st.metadata().get(RECIPE_KEY);
                JsonNode saved = savedJson == null ? RunConfig.JSON.createObjectNode() : RunConfig.JSON.readTree(savedJson);
                // Runs made before train took --norm/--gelu record them only under "architecture" (still compared).
                for (String k : List.of("norm", "gelu"))
                    if (saved instanceof ObjectNode o && !o.has(k)) o.set(k, recipe.get(k));
                // ... and before --precision existed every run was fp32, before --mesh on one device.
                if (saved instanceof ObjectNode o && !o.has("precision")) o.put("precision", "fp32");
                if (saved instanceof ObjectNode o && !o.has("mesh")) o.putNull("mesh");
                var differ = RunConfig.differences(saved, recipe, RESUME_MAY_CHANGE);
                if (!differ.isEmpty())
                    throw new IllegalArgumentException("--resume: the checkpoint at step " + st.step() + " was made with other "
                            + "settings: " + String.join(", ", differ) + "; drop those flags to continue the run, or start a new "
                            + "run with another --out");
                if (total < st.step())
                    throw new IllegalArgumentException("--resume: the checkpoint is at step " + st.step() + ", past --steps "
                            + total + "; give --steps " + st.step() + " or more");
                if (mesh == null) st.restore(vit, opt);
                else {
                    st.requireModel(cfg);
                    meshStart = new Checkpoints.Snapshot(st.params(), st.m(), st.v(), Math.toIntExact(st.step()));
                }
                start = st.dataPosition();
                int cut = MetricsWriter.cutBack(outDir.resolve(RunFolder.METRICS), st.step(), total == st.step());
                text.println("resumed from " + ckpts.file(st.step()) + " at step " + st.step()
                        + (cut > 0 ? " (" + cut + " metrics line(s) after it dropped; they are logged again)" : ""));
                Map<String, Object> changed = new java.util.TreeMap<>();
                for (String k : RESUME_MAY_CHANGE_SCHEDULE)
                    if (!saved.path(k).equals(recipe.path(k))) changed.put(k, List.of(saved.path(k), recipe.path(k)));
                if (!changed.isEmpty()) {
                    resumedChange = Map.of("step", st.step(), "event", "resume", "changed", changed);
                    text.println("changed from the checkpoint's settings ([then, now]): " + changed);
                }
            } else {
                if (mesh == null) Init.init(be, vit.layout(), vit.params(), seed);
                float[] meshParams = mesh == null ? null : MeshTraining.initialParams(cfg, seed);   // the same Init, on a host copy
                if (finetuneFrom != null) {
                    float[] p = Weights.adapt(Weights.read(finetuneFrom), cfg, mesh == null ? be.download(vit.params()) : meshParams);
                    if (mesh == null) be.upload(vit.params(), p);
                    else meshParams = p;
                    text.println("fine-tuning from " + finetuneFrom + " at " + size + " px");
                }
                if (mesh != null) meshStart = new Checkpoints.Snapshot(meshParams, null, null, 0);
            }
            folder.writeConfig(RunConfig.JSON.writeValueAsBytes(recipe));
            var eval = LabeledImages.of(held.val(), cfg.channels(), size, evalLimit, skipBad);
            try (Learner learner = mesh == null ? new ViTLearner(vit, opt)
                         : new MeshLearner(meshDevices(mesh), cfg, b, meshStart, optConfig);
                 MetricsWriter metrics = new MetricsWriter(outDir.resolve(RunFolder.METRICS), resuming);
                 LoaderBatches batches = LoaderBatches.open(train, aug, b, seed, loader.workers, skipBad, start)) {
                if (learner instanceof MeshLearner ml && meshOptions.trace != null) ml.traceNextUpdate(meshOptions.trace);
                tracking.attach(metrics, outDir, learner.step());
                if (resumedChange != null) metrics.write(resumedChange);
                var settings = new Trainer.Settings(total, b, sched, logEvery, evalEvery, ckptEvery, 256, accum.accum);
                var progress = new Progress(text, !json.json && Progress.stdoutIsTerminal(), learner.step(), total, 30);
                if (learner.step() == total) text.println("training is complete at step " + total
                        + "; finishing the run (final evaluation, model.safetensors)");
                long t0 = System.nanoTime(), firstStep = learner.step();
                double finalLoss;
                var trainer = new Trainer(learner, settings, ckpts, metrics, progress, eval, runInfo);
                try (StopSignals signals = new StopSignals(trainer::requestStop)) {
                    Trainer.Result done = trainer.run(batches);
                    if (done.stopped()) {
                        text.println("stopped by " + signals.received() + " at step " + done.step() + "; checkpoint "
                                + done.lastCheckpoint() + "; continue with: vit train --resume " + outDir);
                        if (json.json) JsonOption.print(spec.commandLine().getOut(), JsonOption.object()
                                .put("run", outDir.toString()).put("stopped", String.valueOf(signals.received()))
                                .put("step", done.step()).put("checkpoint", String.valueOf(done.lastCheckpoint())));
                        return signals.exitCode();
                    }
                    finalLoss = done.losses().isEmpty() ? Double.NaN : done.losses().getLast();
                }
                double seconds = (System.nanoTime() - t0) / 1e9, minutes = seconds / 60;
                long imagesSeen = (total - firstStep) * b * accum.accum;
                if (batches.skipped() > 0) text.println("skipped " + batches.skipped() + " unreadable images");
                var full = StreamedImages.of(test, cfg.channels(), size, testLimit, skipBad);
                ViT trained = learner.model();
                Evaluate.Score s = Evaluate.score(trained, full, 256);
                metrics.write(Map.of("step", total, "test_accuracy", s.accuracy(), "test_loss", s.loss(),
                        "train_minutes", minutes));
                Path weights = outDir.resolve("model.safetensors");
                ModelFiles.save(weights, trained.layout(), trained.backend().download(trained.params()),
                        ModelMetadata.of(cfg, train.classes()));
                var plots = Plots.fromMetrics(metrics.path());
                text.printf(Locale.ROOT, "test accuracy %.4f (loss %.4f) on %d images after %.1f min of training%n",
                        s.accuracy(), s.loss(), s.count(), minutes);
                if (meshOptions.trace != null && Files.exists(meshOptions.trace)) text.println("trace of step " + (firstStep + 1) + ": " + meshOptions.trace);
                text.println("metrics: " + metrics.path() + "\nplots:   " + plots.get(0) + ", " + plots.get(1)
                        + "\nmodel:   " + weights + "\ncheckpoint: " + ckpts.latest().orElseThrow());
                if (json.json) JsonOption.print(spec.commandLine().getOut(), JsonOption.object()
                        .put("run", outDir.toString()).put("model", cfg.name()).put("precision", trainingPrecision().toString()).put("steps", total)
                        .put("steps_this_run", total - firstStep).put("final_loss", finalLoss)
                        .put("test_accuracy", s.accuracy()).put("test_loss", s.loss()).put("test_images", s.count())
                        .put("wall_seconds", seconds).put("images_per_second", seconds > 0 ? imagesSeen / seconds : Double.NaN)
                        .put("model_file", weights.toString()).put("checkpoint", ckpts.latest().orElseThrow().toString()));
            }
        }
        return 0;
    }

    /**
     * A new run never mixes with (or prunes) another run's checkpoints: an explicit --out that
     * holds some is refused; the default folder moves on to the next free "-N" sibling.
     */
    private Path freshRunDir(Path dir, boolean explicit) throws java.io.IOException {
        if (!holdsCheckpoints(dir)) return dir;
        if (explicit)
            throw new IllegalArgumentException("--out " + dir + " already holds checkpoints of another run; pass --resume"
                    + " to continue it, or choose another --out");
        for (int i = 2; ; i++) {
            Path next = dir.resolveSibling(dir.getFileName() + "-" + i);
            if (!holdsCheckpoints(next)) {
                text.println(dir + " holds an earlier run (kept as is); this run writes to " + next);
                return next;
            }
        }
    }

    private static boolean holdsCheckpoints(Path dir) throws java.io.IOException {
        return Files.isDirectory(dir) && !new Checkpoints(dir, 1).steps().isEmpty();
    }

    private <T> T pick(T given, T demoValue, T normal) { return given != null ? given : demo ? demoValue : normal; }
}
