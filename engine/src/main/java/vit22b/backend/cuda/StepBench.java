package vit22b.backend.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import vit22b.backend.Precision;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * Whole training steps (forward, sigmoid loss, backward, AdamW with clipping) of our engine on
 * the GPU: fp32 with our GEMM kernels and with cuBLASLt's (fp32, no TF32), and bf16 (bf16
 * storage, our tensor-core GEMMs and attention, fp32 masters): ViT-B/16 at 224 px and a ViT-22B-width
 * stack of 3 blocks (4 would exceed one flat parameter buffer of 2^31 floats). Reports
 * images/s and MFU against 989 TFLOP/s, FLOPs from ModelStats (bench/gpu/torch_step.py counts alike).
 * Usage: StepBench [JSON_OUT].
 */
public final class StepBench {
    static final double PEAK = 989e12;
    /** One warm-up step sizes the caches (the allocator's, the scratch buffers'); the median of 5 is reported. */
    static final int WARMUP = 1, STEPS = 5;

    public static void main(String[] args) throws IOException {
        List<String> rows = new ArrayList<>();
        for (CudaBackend.GemmPath path : CudaBackend.GemmPath.values())
            try (CudaBackend be = new CudaBackend(0, path)) {
                rows.addAll(runBoth(be, "vit22b-fp32-" + path.name().toLowerCase(Locale.ROOT)));
            }
        try (CudaBackend be = new CudaBackend(0, CudaBackend.GemmPath.KERNELS, Precision.BF16)) {
            rows.addAll(runBoth(be, "vit22b-bf16-kernels"));
        }
        String json = "[\n  " + String.join(",\n  ", rows) + "\n]\n";
        System.out.print(json);
        if (args.length > 0) Files.writeString(Path.of(args[0]), json);
    }

    /** The two models' rows on {@code be}. */
    private static List<String> runBoth(CudaBackend be, String engine) {
        return List.of(run(be, engine, "vit-b16-224", Presets.get("vit-b"), 64),
                run(be, engine, "vit-22b-width-3blocks", Presets.get("vit-22b").withDepth(3).withClasses(1000), 8));
    }

    private static String run(CudaBackend be, String engine, String name, ModelConfig c, int batch) {
        try (ViT vit = new ViT(be, c)) {
            GemmBench.fillRandom(be, vit.params(), 1);
            be.scale(vit.params(), 0.02f);
            Tensor images = be.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = be.allocate(batch, c.classes());
            GemmBench.fillRandom(be, images, 2);
            float[] t = new float[batch * c.classes()];
            for (int b = 0; b < batch; b++) t[b * c.classes() + (b * 37) % c.classes()] = 1;
            be.upload(targets, t);
            try (AdamW opt = new AdamW(be, vit,
                    new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.05f, 0.05f, 1f))) {
                double[] ms = new double[STEPS];
                long gemms0 = be.tensorCoreGemms();
                for (int i = 0; i < WARMUP + STEPS; i++) {
                    be.synchronize();
                    long t0 = System.nanoTime();
                    vit.forwardBackward(images, targets);
                    opt.step(1e-4f);
                    be.synchronize();
                    if (i >= WARMUP) ms[i - WARMUP] = (System.nanoTime() - t0) / 1e6;
                }
                Arrays.sort(ms);
                double step = ms[STEPS / 2], ips = batch / (step / 1e3);
                double mfu = ModelStats.of(c).flops().trainingPerImage() * ips / PEAK;
                be.free(images);
                be.free(targets);
                String r = String.format(Locale.ROOT, "{\"name\":\"%s\",\"engine\":\"%s\",\"batch\":%d,"
                        + "\"step_ms\":%.2f,\"images_per_s\":%.2f,\"mfu\":%.5f,\"params\":%d,\"device_allocs\":%d,"
                        + "\"tensor_core_gemms_per_step\":%d}",
                        name, engine, batch, step, ips, mfu, vit.layout().total(), be.allocator().driverAllocations(),
                        (be.tensorCoreGemms() - gemms0) / (WARMUP + STEPS));
                System.err.println(r);
                return r;
            }
        }
    }
}
