package vit22b.eval;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.DeviceFill;
import vit22b.mesh.sim.Chip;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.ParamLayout;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

/**
 * Times the forward pass of an inference-only model ({@link ViT#inference}) with random weights,
 * so that a ViT-22B-size forward can be measured on one GPU without a 44 GB file: weights made on
 * the device where it is a CUDA one (uniform, variance 1/fan-in per matrix, norm scales 1, biases
 * 0), a random batch, then timed passes to the logits (the MAP head's features without classes).
 */
public final class ForwardBench {
    /** The MFU reference: H100/H200 dense bf16 (DESIGN.md, "Performance accounting"). */
    public static final double PEAK_FLOPS = Chip.H200.peakFlops();
    /** Elements made per fill launch (16 MiB of float32 scratch). */
    private static final int FILL_CHUNK = 1 << 22;

    private ForwardBench() {}

    /** What one run measured. */
    public record Result(String backend, Precision precision, ModelConfig config, int batch, int warmup,
                         List<Double> seconds, long weightBytes, double fillSeconds) {
        public double meanSeconds() { return seconds.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN); }
        public double imagesPerSecond() { return batch / meanSeconds(); }
        public long forwardFlopsPerImage() { return ModelStats.of(config).flops().forwardPerImage(); }
        public double achievedFlops() { return forwardFlopsPerImage() * imagesPerSecond(); }
        /** Model FLOP utilisation against {@link #PEAK_FLOPS} (meaningful on a GPU only). */
        public double mfu() { return achievedFlops() / PEAK_FLOPS; }
    }

    public static Result run(Backend be, ModelConfig c, int batch, int warmup, int steps, long seed, PrintStream log) {
        if (batch <= 0 || steps <= 0 || warmup < 0)
            throw new IllegalArgumentException("batch and steps must be positive and warm-up >= 0");
        try (ViT model = ViT.inference(be, c)) {
            long t0 = System.nanoTime();
            long bytes = fillRandom(model, seed);
            be.synchronize();
            double fill = (System.nanoTime() - t0) / 1e9;
            log.printf(Locale.ROOT, "forward bench: %,d parameters (%.2f GB of %s weights) made in %.1f s%n",
                    model.layout().total(), bytes / 1e9, be.precision().compute(), fill);
            int s = c.imageSize();
            float[] px = new float[batch * c.channels() * s * s];
            SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
            for (int i = 0; i < px.length; i++) px[i] = (float) (2 * r.nextDouble() - 1);
            Tensor images = be.allocate(batch, c.channels(), s, s);
            List<Double> times = new ArrayList<>();
            try {
                be.upload(images, px);
                for (int i = 0; i < warmup + steps; i++) {
                    long a = System.nanoTime();
                    if (c.classes() > 0) model.forward(images);
                    else model.features(images);
                    be.synchronize();
                    double sec = (System.nanoTime() - a) / 1e9;
                    if (i >= warmup) times.add(sec);
                    log.printf(Locale.ROOT, "forward bench: %s pass %d/%d: %.3f s%n", i < warmup ? "warm-up" : "timed",
                            i < warmup ? i + 1 : i - warmup + 1, i < warmup ? warmup : steps, sec);
                }
            } finally {
                be.free(images);
            }
            return new Result(be.name(), be.precision(), c, batch, warmup, times, bytes, fill);
        }
    }

    /**
     * Random weights for {@code model} (inference-only), on the device through float32 scratch and
     * the backend's cast where it is CUDA, else from the host. Returns the weights' bytes as stored.
     */
    static long fillRandom(ViT model, long seed) {
        Backend be = model.backend();
        CudaBackend cuda = be instanceof CudaBackend c ? c
                : be instanceof Bf16Rounding b && b.inner() instanceof CudaBackend c ? c : null;
        SplittableRandom r = new SplittableRandom(seed);
        Tensor scratch = cuda == null ? null : be.allocate(FILL_CHUNK);
        long bytes = 0;
        try {
            for (ParamLayout.Entry e : model.layout().entries()) {
                Tensor w = model.weight(e.name()).reshape((int) e.size());
                bytes += w.bytes();
                int[] shape = e.shape();
                if (shape.length == 1) {   // norm scales 1, biases stay 0
                    if (e.name().endsWith("norm.weight")) {
                        float[] ones = new float[(int) e.size()];
                        java.util.Arrays.fill(ones, 1f);
                        be.upload(w, ones);
                    }
                    continue;
                }
                float bound = (float) Math.sqrt(3.0 * shape[0] / e.size());   // variance 1 / fan-in
                for (long at = 0; at < e.size(); ) {
                    int n = (int) Math.min(FILL_CHUNK, e.size() - at);
                    if (cuda != null) {
                        Tensor part = scratch.view(0, n);
                        DeviceFill.uniform(cuda, part, r.nextLong(), bound);
                        be.cast(w.view(at, n), part);
                    } else {
                        float[] a = new float[n];
                        for (int i = 0; i < n; i++) a[i] = (float) ((2 * r.nextDouble() - 1) * bound);
                        be.upload(w.view(at, n), a);
                    }
                    at += n;
                }
            }
        } finally {
            if (scratch != null) be.free(scratch);
        }
        return bytes;
    }
}
