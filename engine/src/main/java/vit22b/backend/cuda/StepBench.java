package vit22b.backend.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import vit22b.backend.Backend;
import vit22b.backend.Precision;
import vit22b.backend.cuda.OpProfiler.Timing;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * Whole training steps (forward, sigmoid loss, backward, AdamW with clipping) of our engine on
 * the GPU: fp32 with our GEMM kernels and with cuBLASLt's (fp32, no TF32), and bf16 (bf16
 * storage, our tensor-core GEMMs and attention, fp32 masters): ViT-B/16 at 224 px (batch 64) and a
 * ViT-22B-width stack of 3 blocks (4 would exceed one flat parameter buffer of 2^31 floats). Reports
 * images/s and MFU against 989 TFLOP/s, FLOPs from ModelStats (bench/gpu/torch_step.py counts
 * alike and checks its count against {@code train_flops_per_image} here).
 * With {@code --breakdown}, also the bf16 22B-width step's {@link StepBreakdown}: device time by
 * kind of op and the step with each kind removed, what limits its MFU.
 * <p>Usage: StepBench [--precision fp32|bf16|all] [--batch N] [--breakdown] [JSON_OUT]; --batch is
 * the 22B-width stack's (default 8). JSON_OUT gets {"rows": [...], "breakdown": [...]}.
 */
public final class StepBench {
    static final double PEAK = 989e12;
    /** One warm-up step sizes the caches (the allocator's, the scratch buffers'); the median of 5 is reported. */
    static final int WARMUP = 1, STEPS = 5;
    static final String WIDE = "vit-22b-width-3blocks";

    /** The 22B-width stack the MFU figure is about. */
    static ModelConfig wide() { return Presets.get("vit-22b").withDepth(3).withClasses(1000); }

    public static void main(String[] args) throws IOException {
        String precision = "all", out = null;
        int batch = 8;
        boolean breakdown = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--precision" -> precision = i + 1 < args.length ? args[++i] : "";
                case "--batch" -> batch = i + 1 < args.length && args[i + 1].matches("[1-9][0-9]{0,4}") ? Integer.parseInt(args[++i]) : -1;
                case "--breakdown" -> breakdown = true;
                default -> {
                    if (args[i].startsWith("-") || out != null) usage("unknown argument '" + args[i] + "'");
                    out = args[i];
                }
            }
        }
        if (!List.of("fp32", "bf16", "all").contains(precision)) usage("--precision takes fp32, bf16 or all");
        if (batch <= 0) usage("--batch takes a positive number of images");
        List<String> rows = new ArrayList<>(), breakdowns = new ArrayList<>();
        if (!precision.equals("bf16"))
            for (CudaBackend.GemmPath path : CudaBackend.GemmPath.values())
                try (CudaBackend be = new CudaBackend(0, path)) {
                    rows.addAll(runBoth(be, "vit22b-fp32-" + path.name().toLowerCase(Locale.ROOT), batch));
                }
        if (!precision.equals("fp32") || breakdown)
            try (CudaBackend be = new CudaBackend(0, CudaBackend.GemmPath.KERNELS, Precision.BF16)) {
                if (!precision.equals("fp32")) rows.addAll(runBoth(be, "vit22b-bf16-kernels", batch));
                if (breakdown) {
                    StepBreakdown b = breakdown(be, WIDE, wide(), batch, WARMUP, STEPS);
                    System.out.print(b.table());
                    breakdowns.add(b.json());
                }
            }
        String json = "{\"rows\": [\n  " + String.join(",\n  ", rows) + "\n],\n\"breakdown\": [\n  "
                + String.join(",\n  ", breakdowns) + "\n]}\n";
        System.out.print(json);
        if (out != null) Files.writeString(Path.of(out), json);
    }

    private static void usage(String problem) {
        System.err.println("StepBench: " + problem + "; usage: StepBench [--precision fp32|bf16|all] [--batch N] [--breakdown] [JSON_OUT]");
        System.exit(2);
    }

    /** The two models' rows on {@code be}. */
    private static List<String> runBoth(CudaBackend be, String engine, int wideBatch) {
        return List.of(run(be, engine, "vit-b16-224", Presets.get("vit-b"), 64), run(be, engine, WIDE, wide(), wideBatch));
    }

    private static String run(CudaBackend be, String engine, String name, ModelConfig c, int batch) {
        try (Rig r = new Rig(be, c, batch)) {
            long gemms0 = be.tensorCoreGemms();
            double step = r.medianMs(WARMUP, STEPS, r::step), ips = batch / (step / 1e3);
            long flops = ModelStats.of(c).flops().trainingPerImage();
            String row = String.format(Locale.ROOT, "{\"name\":\"%s\",\"engine\":\"%s\",\"batch\":%d,"
                    + "\"step_ms\":%.2f,\"images_per_s\":%.2f,\"mfu\":%.5f,\"train_flops_per_image\":%d,\"params\":%d,"
                    + "\"device_allocs\":%d,\"tensor_core_gemms_per_step\":%d}",
                    name, engine, batch, step, ips, flops * ips / PEAK, flops, r.vit.layout().total(),
                    be.allocator().driverAllocations(), (be.tensorCoreGemms() - gemms0) / (WARMUP + STEPS));
            System.err.println(row);
            return row;
        }
    }

    /**
     * {@code c}'s step at {@code batch} on {@code be}: the plain step's median, one profiled step
     * (the median of {@code steps} by device time) and each {@link StepBreakdown#variants removal}'s median.
     */
    static StepBreakdown breakdown(CudaBackend be, String name, ModelConfig c, int batch, int warmup, int steps) {
        try (Rig r = new Rig(be, c, batch)) {
            double plain = r.medianMs(warmup, steps, r::step);
            Timing[] t = new Timing[steps];
            for (int i = 0; i < steps; i++) {
                r.prof.begin();
                r.step();
                t[i] = r.prof.collect();
            }
            Arrays.sort(t, (a, b) -> Double.compare(a.stepMs(), b.stepMs()));
            List<StepBreakdown.Removal> removals = new ArrayList<>();
            for (StepBreakdown.Removal v : StepBreakdown.variants()) {
                r.prof.remove(v.removed());
                double ms = r.medianMs(warmup, steps, r::unreadStep);
                int skipped = r.prof.skipped().values().stream().mapToInt(Integer::intValue).sum() / (warmup + steps);
                r.prof.remove(Set.of());
                removals.add(new StepBreakdown.Removal(v.label(), v.removed(), ms, skipped));
            }
            return new StepBreakdown(name, batch, plain, t[steps / 2], StepBreakdown.flops(c, batch), removals);
        }
    }

    /** A model, its optimiser and a random batch on an {@link OpProfiler} over {@code be}. */
    static final class Rig implements AutoCloseable {
        final OpProfiler prof;
        final ViT vit;
        final Tensor images, targets;
        final AdamW opt;

        Rig(CudaBackend be, ModelConfig c, int batch) { this(be, c, batch, true); }

        /** viaProfiler false: the model and optimiser on {@code be} itself (a reference for the profiled run). */
        Rig(CudaBackend be, ModelConfig c, int batch, boolean viaProfiler) {
            prof = new OpProfiler(be);
            Backend model = viaProfiler ? prof.backend() : be;
            vit = new ViT(model, c);
            GemmBench.fillRandom(be, vit.params(), 1);
            be.scale(vit.params(), 0.02f);
            images = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
            targets = be.allocate(batch, c.classes());
            GemmBench.fillRandom(be, images, 2);
            float[] t = new float[batch * c.classes()];
            for (int b = 0; b < batch; b++) t[b * c.classes() + (b * 37) % c.classes()] = 1;
            be.upload(targets, t);
            opt = new AdamW(model, vit, new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.05f, 0.05f, 1f));
        }

        /** One whole step; returns the loss. */
        double step() {
            double loss = vit.forwardBackward(images, targets);
            opt.step(1e-4f);
            return loss;
        }

        /** A step whose gradient norm is not read: with work removed it need not be finite. */
        double unreadStep() {
            double loss = vit.forwardBackward(images, targets);
            opt.prepare(1e-4f);
            opt.queueUpdate();
            return loss;
        }

        /** Median host milliseconds of {@code steps} steps (device synchronised around each) after {@code warmup}. */
        double medianMs(int warmup, int steps, Runnable step) {
            double[] ms = new double[steps];
            for (int i = 0; i < warmup + steps; i++) {
                prof.inner().synchronize();
                long t0 = System.nanoTime();
                step.run();
                prof.inner().synchronize();
                if (i >= warmup) ms[i - warmup] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(ms);
            return ms[steps / 2];
        }

        @Override public void close() {
            prof.inner().free(images);
            prof.inner().free(targets);
            opt.close();
            vit.close();
            prof.close();
        }
    }
}
