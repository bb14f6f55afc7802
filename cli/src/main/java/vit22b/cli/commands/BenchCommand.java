package vit22b.cli.commands;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.Backend;
import vit22b.backend.Backends;
import vit22b.backend.Precision;
import vit22b.backend.cpu.HostInfo;
import vit22b.cli.options.BackendOption;
import vit22b.cli.options.PrecisionOption;
import vit22b.cli.options.JsonOption;
import vit22b.cli.options.Streams;
import vit22b.eval.ForwardBench;
import vit22b.backend.cpu.SgemmRate;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.Presets;
import vit22b.train.SyntheticStep;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Times whole training steps (forward, backward, AdamW) on a random batch after warm-up: "
                + "images/s, tokens/s, achieved model GFLOP/s and, on the cpu, its fraction of the OpenBLAS sgemm rate "
                + "measured in the same run (GPU kernels and GEMMs: bench/gpu/run-all.sh). "
                + "On cuda-emu it checks that the kernels train, and times the emulator, not a GPU: no GFLOP/s then.")
public final class BenchCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin BackendOption backend;
    @Mixin PrecisionOption precision;

    @Option(names = "--model", required = true, description = "Preset name, e.g. vit-s-fmnist.")
    String model;

    @Option(names = "--batch", required = true, description = "Images per step.")
    int batch;

    @Option(names = "--steps", description = "Timed steps (default 10; 2 on cuda-emu, which is slow).")
    Integer stepsGiven;

    @Option(names = "--warmup", description = "Untimed steps first (default 3; 1 on cuda-emu).")
    Integer warmupGiven;

    /** The emulator runs every CUDA thread on the CPU: far fewer steps by default, and its timings are no GPU's. */
    static final String EMULATED_WARNING = "the emulated device (cuda-emu, cuda-emu-hopper) emulates every CUDA thread on the CPU: these timings check that the "
            + "kernels run, they are not GPU timings (no GFLOP/s reported); time a GPU with --backend cuda";
    private int steps, warmup;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the model and the batch.")
    long seed;

    @Option(names = "--forward-only", description = "Time forward passes of an inference-only model (compute weights "
            + "only, per block: any size that fits the device, ViT-22B on one H200) with random weights made on the "
            + "device: images/s, forward TFLOP/s and, on cuda, MFU against 989 TFLOP/s.")
    boolean forwardOnly;

    @Mixin JsonOption json;

    /** What one run measured; the sgemm rates are measured on the cpu backend only (null on cuda). */
    record Result(String backend, Precision precision, ModelConfig config, int batch, int warmup, List<Double> stepSeconds, double firstLoss,
                  double lastLoss, SgemmRate.Measurement sgemmModel, SgemmRate.Measurement sgemmSquare, HostInfo host) {
        double totalSeconds() { return stepSeconds.stream().mapToDouble(Double::doubleValue).sum(); }
        double imagesPerSecond() { return batch * stepSeconds.size() / totalSeconds(); }
        double tokensPerSecond() { return imagesPerSecond() * config.tokens(); }
        boolean emulated() { return Backends.emulated(backend); }
        double achievedGflops() { return ModelStats.of(config).flops().trainingPerImage() * imagesPerSecond() / 1e9; }
        boolean hasSgemm() { return sgemmModel != null; }
        double peakGflops() { return Math.max(sgemmModel.gflops(), sgemmSquare.gflops()); }
        double fractionOfSgemm() { return achievedGflops() / peakGflops(); }
    }

    @Override public Integer call() throws Exception {
        boolean emulated = Backends.emulated(backend.backend);
        steps = stepsGiven != null ? stepsGiven : emulated ? 2 : 10;
        warmup = warmupGiven != null ? warmupGiven : emulated ? 1 : 3;
        if (batch <= 0 || steps <= 0 || warmup < 0)
            throw new IllegalArgumentException("--batch and --steps must be positive and --warmup >= 0");
        ModelConfig c = Presets.get(model);
        PrintWriter out = spec.commandLine().getOut();
        if (forwardOnly) {
            ForwardBench.Result f;
            try (Backend be = precision.open(backend, spec.commandLine().getErr())) {
                if (emulated) progress(spec.commandLine().getErr(), "%s", EMULATED_WARNING);
                f = ForwardBench.run(be, c, batch, warmup, steps, seed, Streams.printStream(spec.commandLine().getErr()));
            }
            if (json.json) JsonOption.print(out, toJson(f));
            else printText(out, f);
            out.flush();
            return 0;
        }
        Result r = run(c);
        if (json.json) JsonOption.print(out, toJson(r));
        else printText(out, r);
        out.flush();
        return 0;
    }

    private Result run(ModelConfig c) {
        PrintWriter err = spec.commandLine().getErr();
        List<Double> times = new ArrayList<>();
        double first, last;
        String name;
        Precision p;
        try (Backend be = precision.open(backend, err); SyntheticStep step = new SyntheticStep(be, c, batch, seed)) {
            name = be.name();
            p = be.precision();
            if (Backends.emulated(name)) progress(err, "%s", EMULATED_WARNING);
            for (int i = 0; i < warmup; i++) {
                long t0 = System.nanoTime();
                double loss = step.run();
                progress(err, "warm-up step %d/%d: %.3f s, loss %.4f", i + 1, warmup, (System.nanoTime() - t0) / 1e9, loss);
            }
            first = last = Double.NaN;
            for (int i = 0; i < steps; i++) {
                long t0 = System.nanoTime();
                last = step.run();   // returns the loss on the host, so the step has finished on the device
                times.add((System.nanoTime() - t0) / 1e9);
                if (i == 0) first = last;
                progress(err, "step %d/%d: %.3f s, loss %.4f", i + 1, steps, times.getLast(), last);
            }
        }
        if (!name.equals("cpu")) {   // on the emulator, this line follows the warning above
            progress(err, "no sgemm reference on %s: GPU kernels and GEMM rates are measured by bench/gpu/run-all.sh", name);
            return new Result(name, p, c, batch, warmup, times, first, last, null, null, HostInfo.current());
        }
        // The model's dominant GEMM (the fused in-projection) and a square one, timed now.
        progress(err, "timing OpenBLAS sgemm");
        var model = SgemmRate.measure(batch * c.tokens(), c.inProjRows(), c.width(), 1.0);
        var square = SgemmRate.measure(1024, 1024, 1024, 1.0);
        return new Result(name, p, c, batch, warmup, times, first, last, model, square, HostInfo.current());
    }

    private static void progress(PrintWriter err, String fmt, Object... args) {
        err.printf(Locale.ROOT, "bench: " + fmt + "%n", args);
        err.flush();
    }

    private ObjectNode toJson(Result r) {
        ObjectNode o = JsonOption.object();
        o.put("backend", r.backend()).put("precision", r.precision().toString()).put("model", r.config().name()).put("batch", r.batch())
                .put("tokens_per_image", r.config().tokens()).put("warmup_steps", r.warmup()).put("steps", r.stepSeconds().size());
        var st = o.putArray("step_seconds");
        r.stepSeconds().forEach(st::add);
        o.put("mean_step_seconds", r.totalSeconds() / r.stepSeconds().size());
        o.put("images_per_second", r.imagesPerSecond()).put("tokens_per_second", r.tokensPerSecond());
        o.put("training_flops_per_image", ModelStats.of(r.config()).flops().trainingPerImage());
        if (r.emulated()) o.put("emulated", true).put("warning", EMULATED_WARNING);
        else o.put("achieved_gflops", r.achievedGflops());
        if (r.hasSgemm()) {
            ObjectNode s = o.putObject("sgemm");
            sgemm(s.putObject("model_shape"), r.sgemmModel());
            sgemm(s.putObject("square_1024"), r.sgemmSquare());
            s.put("peak_gflops", r.peakGflops());
            o.put("fraction_of_sgemm", r.fractionOfSgemm());
        }
        o.put("first_loss", r.firstLoss()).put("last_loss", r.lastLoss());
        HostInfo h = r.host();
        o.putObject("machine").put("cores", h.cores()).put("cpu_model", h.cpuModel()).put("os", h.os())
                .put("java_version", h.javaVersion()).put("java_vm", h.javaVm())
                .put("openblas_threads", h.openblasThreads()).put("openblas_config", h.openblasConfig());
        return o;
    }

    private static ObjectNode toJson(ForwardBench.Result f) {
        ObjectNode o = JsonOption.object();
        o.put("mode", "forward-only").put("backend", f.backend()).put("precision", f.precision().toString())
                .put("model", f.config().name()).put("parameters", ModelStats.of(f.config()).params().total())
                .put("weight_bytes", f.weightBytes()).put("fill_seconds", f.fillSeconds()).put("batch", f.batch())
                .put("warmup_passes", f.warmup()).put("passes", f.seconds().size());
        var st = o.putArray("pass_seconds");
        f.seconds().forEach(st::add);
        o.put("mean_pass_seconds", f.meanSeconds()).put("images_per_second", f.imagesPerSecond())
                .put("forward_flops_per_image", f.forwardFlopsPerImage());
        if (Backends.emulated(f.backend())) o.put("emulated", true).put("warning", EMULATED_WARNING);
        else o.put("achieved_gflops", f.achievedFlops() / 1e9);
        if (f.backend().equals("cuda")) o.put("mfu", f.mfu()).put("peak_tflops", ForwardBench.PEAK_FLOPS / 1e12);
        return o;
    }

    private static void printText(PrintWriter out, ForwardBench.Result f) {
        ModelConfig c = f.config();
        out.printf(Locale.ROOT, "%s forward on %s (%s), batch %d: %d timed passes after %d warm-up; %.4g GB of weights%n",
                c.name(), f.backend(), f.precision(), f.batch(), f.seconds().size(), f.warmup(), f.weightBytes() / 1e9);
        out.printf(Locale.ROOT, "  pass            %10.3f s (mean)%n", f.meanSeconds());
        out.printf(Locale.ROOT, "  images/s        %10.2f%n", f.imagesPerSecond());
        if (Backends.emulated(f.backend())) out.println("  note: " + EMULATED_WARNING);
        else out.printf(Locale.ROOT, "  forward GFLOP/s %10.1f   (%.4g GFLOP per image, ModelStats)%n",
                f.achievedFlops() / 1e9, f.forwardFlopsPerImage() / 1e9);
        if (f.backend().equals("cuda"))
            out.printf(Locale.ROOT, "  MFU             %10.1f %%   of %.0f TFLOP/s bf16 dense%n", 100 * f.mfu(),
                    ForwardBench.PEAK_FLOPS / 1e12);
    }

    private static void sgemm(ObjectNode o, SgemmRate.Measurement m) {
        o.put("m", m.m()).put("n", m.n()).put("k", m.k()).put("calls", m.reps())
                .put("best_seconds", m.bestSeconds()).put("gflops", m.gflops());
    }

    private static void printText(PrintWriter out, Result r) {
        ModelConfig c = r.config();
        HostInfo h = r.host();
        out.printf(Locale.ROOT, "%s on %s (%s), batch %d (%d tokens/image): %d timed steps after %d warm-up%n",
                c.name(), r.backend(), r.precision(), r.batch(), c.tokens(), r.stepSeconds().size(), r.warmup());
        out.printf(Locale.ROOT, "  step            %10.3f s (mean)%n", r.totalSeconds() / r.stepSeconds().size());
        out.printf(Locale.ROOT, "  images/s        %10.1f%n", r.imagesPerSecond());
        out.printf(Locale.ROOT, "  tokens/s        %10.0f%n", r.tokensPerSecond());
        if (r.emulated()) out.println("  note: " + EMULATED_WARNING);
        else out.printf(Locale.ROOT, "  model GFLOP/s   %10.1f   (training = 3 x forward FLOPs per image)%n", r.achievedGflops());
        if (r.hasSgemm()) {
            out.printf(Locale.ROOT, "  sgemm GFLOP/s   %10.1f   model shape %dx%dx%d; %.1f on 1024^3; peak = the larger%n",
                    r.sgemmModel().gflops(), r.sgemmModel().m(), r.sgemmModel().n(), r.sgemmModel().k(), r.sgemmSquare().gflops());
            out.printf(Locale.ROOT, "  of sgemm peak   %10.1f %%%n", 100 * r.fractionOfSgemm());
        }
        out.printf(Locale.ROOT, "  loss            %.4f -> %.4f%n", r.firstLoss(), r.lastLoss());
        out.printf(Locale.ROOT, "machine: %d cores, %s, %s, Java %s, OpenBLAS %d threads (%s)%n",
                h.cores(), h.cpuModel(), h.os(), h.javaVersion(), h.openblasThreads(), h.openblasConfig());
    }
}
