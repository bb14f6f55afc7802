package vit22b.backend.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import vit22b.kernels.DeviceEvent;
import vit22b.kernels.Kernels;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;

/**
 * Fused in-projection (tokens x D x (3D+M), with the GELU epilogue and QK-norm) and fused
 * out-projection (tokens x (D+M) x D, bias and residual) of our kernels, against cuBLASLt on
 * the same shapes (plain GEMM, fp32 and bf16; ours in bf16 is gemm_bf16 with the same epilogues), for the widths of ViT-B, ViT-L, ViT-e and
 * ViT-22B. Times with CUDA events, median of {@value #REPS} after {@value #WARMUP} warm-ups,
 * random inputs. Usage: GemmBench [TOKENS] [JSON_OUT].
 */
public final class GemmBench {
    static final int WARMUP = 3, REPS = 20;

    record Row(String model, String op, int m, int n, int k, double oursTflops, double lt32Tflops,
               double ours16Tflops, double lt16Tflops) {
        double ratio() { return oursTflops / lt32Tflops; }
    }

    public static void main(String[] args) throws IOException {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 8192;
        List<Row> rows = new ArrayList<>();
        try (CudaBackend be = new CudaBackend(); CublasLt lt = new CublasLt(be)) {
            for (String name : List.of("vit-b", "vit-l", "vit-e", "vit-22b")) {
                ModelConfig c = Presets.get(name);
                int batch = Math.max(1, tokens / c.tokens()), T = batch * c.tokens();
                rows.addAll(bench(be, lt, c, batch, T));
            }
        }
        StringBuilder json = new StringBuilder("[\n");
        System.out.printf(Locale.ROOT, "%-8s %-8s %6s %6s %6s %9s %9s %6s %9s %9s %6s  (TFLOP/s)%n", "model", "op", "M", "N", "K",
                "ours f32", "Lt f32", "ratio", "ours bf16", "Lt bf16", "ratio");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "%-8s %-8s %6d %6d %6d %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f%n", r.model(), r.op(),
                    r.m(), r.n(), r.k(), r.oursTflops(), r.lt32Tflops(), r.ratio(), r.ours16Tflops(), r.lt16Tflops(),
                    r.ours16Tflops() / r.lt16Tflops());
            json.append(String.format(Locale.ROOT,
                    "  {\"model\":\"%s\",\"op\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"ours_tflops\":%.3f,"
                            + "\"cublaslt_f32_tflops\":%.3f,\"ratio_vs_f32\":%.4f,\"ours_bf16_tflops\":%.3f,"
                            + "\"cublaslt_bf16_tflops\":%.3f,\"ratio_vs_bf16\":%.4f},\n",
                    r.model(), r.op(), r.m(), r.n(), r.k(), r.oursTflops(), r.lt32Tflops(), r.ratio(), r.ours16Tflops(),
                    r.lt16Tflops(), r.ours16Tflops() / r.lt16Tflops()));
        }
        if (!rows.isEmpty()) json.setLength(json.length() - 2);
        json.append("\n]\n");
        if (args.length > 1) Files.writeString(Path.of(args[1]), json);
    }

    private static List<Row> bench(CudaBackend be, CublasLt lt, ModelConfig c, int batch, int T) {
        int D = c.width(), M = c.mlp(), H = c.heads(), hd = c.headDim(), N = c.tokens();
        List<Tensor> all = new ArrayList<>();
        java.util.function.Function<int[], Tensor> rnd = shape -> {
            Tensor t = be.allocate(shape);
            fillRandom(be, t, all.size() + 1);
            all.add(t);
            return t;
        };
        Tensor y = rnd.apply(new int[] {T, D}), wIn = rnd.apply(new int[] {c.inProjRows(), D});
        Tensor bMlp = rnd.apply(new int[] {M}), qs = rnd.apply(new int[] {hd}), ks = rnd.apply(new int[] {hd});
        Tensor pre = rnd.apply(new int[] {T, c.inProjRows()}), ag = rnd.apply(new int[] {T, D + M});
        Tensor q = rnd.apply(new int[] {batch, H, N, hd}), k = rnd.apply(new int[] {batch, H, N, hd});
        Tensor v = rnd.apply(new int[] {batch, H, N, hd}), st = rnd.apply(new int[] {2, batch, H, N, 2});
        Tensor wOut = rnd.apply(new int[] {D, D + M}), bOut = rnd.apply(new int[] {D});
        Tensor x = rnd.apply(new int[] {T, D}), out = rnd.apply(new int[] {T, D});
        // bf16 copies for the cuBLASLt bf16 peer (two bf16 per float slot)
        Tensor y16 = bf16(be, y, all), wIn16 = bf16(be, wIn, all), pre16 = bf16(be, pre, all);
        Tensor ag16 = bf16(be, ag, all), wOut16 = bf16(be, wOut, all), out16 = bf16(be, out, all);
        Tensor x16 = bf16(be, x, all);
        Kernels kk = be.kernels();
        int rowsIn = c.inProjRows();

        double fIn = 2.0 * T * c.inProjRows() * D, fOut = 2.0 * T * (D + M) * D;
        double oursIn = fIn / time(be, () -> be.inProjectionForward(c, batch, y, wIn, bMlp, qs, ks, pre, ag, q, k, v, st));
        double ltIn32 = fIn / time(be, () -> lt.matmulNT(CudaBackend.a(pre), CudaBackend.a(y), CudaBackend.a(wIn),
                T, c.inProjRows(), D, 0f, CublasLt.Type.F32));
        double ltIn16 = fIn / time(be, () -> lt.matmulNT(CudaBackend.a(pre16), CudaBackend.a(y16), CudaBackend.a(wIn16),
                T, c.inProjRows(), D, 0f, CublasLt.Type.BF16));
        // bf16 in-projection: GEMM + bias + GELU epilogue (QK-norm has no bf16 kernel yet)
        double oursIn16 = fIn / time(be, () -> kk.gemmBf16(CudaBackend.a(y16), D, CudaBackend.a(wIn16), D,
                CudaBackend.a(pre16), rowsIn, T, rowsIn, D, 0, 0, 0, 1,
                CudaBackend.a(ag16) + (long) D * 2, D + M, M, CudaBackend.a(bMlp), c.gelu().ordinal()));
        double oursOut16 = fOut / time(be, () -> kk.gemmBf16(CudaBackend.a(ag16), D + M, CudaBackend.a(wOut16), D + M,
                CudaBackend.a(out16), D, T, D, D + M, CudaBackend.a(bOut), CudaBackend.a(x16), D, T, 0, 0, 0, 0, 0));
        double oursOut = fOut / time(be, () -> be.outProjectionForward(out, x, ag, wOut, bOut));
        double ltOut32 = fOut / time(be, () -> lt.matmulNT(CudaBackend.a(out), CudaBackend.a(ag), CudaBackend.a(wOut),
                T, D, D + M, 0f, CublasLt.Type.F32));
        double ltOut16 = fOut / time(be, () -> lt.matmulNT(CudaBackend.a(out16), CudaBackend.a(ag16), CudaBackend.a(wOut16),
                T, D, D + M, 0f, CublasLt.Type.BF16));
        for (Tensor t : all) be.free(t);
        return List.of(new Row(c.name(), "in-proj", T, c.inProjRows(), D, oursIn / 1e12, ltIn32 / 1e12, oursIn16 / 1e12, ltIn16 / 1e12),
                new Row(c.name(), "out-proj", T, D, D + M, oursOut / 1e12, ltOut32 / 1e12, oursOut16 / 1e12, ltOut16 / 1e12));
    }

    private static Tensor bf16(CudaBackend be, Tensor src, List<Tensor> all) {
        Tensor t = be.allocate((int) ((src.size() + 1) / 2));
        be.kernels().toBf16(CudaBackend.a(t), CudaBackend.a(src), src.size());
        all.add(t);
        return t;
    }

    /** Uniform(-1, 1) host data uploaded in slices (keeps the host array small). */
    static void fillRandom(CudaBackend be, Tensor t, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int chunk = 1 << 22;
        for (long off = 0; off < t.size(); off += chunk) {
            int n = (int) Math.min(chunk, t.size() - off);
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
            be.upload(t.view(off, n), a);
        }
    }

    /** Median seconds of one run of {@code op}, timed with CUDA events on the backend's stream. */
    static double time(CudaBackend be, Runnable op) {
        for (int i = 0; i < WARMUP; i++) op.run();
        double[] ms = new double[REPS];
        try (DeviceEvent start = be.device().createEvent(); DeviceEvent stop = be.device().createEvent()) {
            for (int i = 0; i < REPS; i++) {
                start.record(be.stream());
                op.run();
                stop.record(be.stream());
                stop.synchronize();
                ms[i] = stop.millisSince(start);
            }
        }
        Arrays.sort(ms);
        return ms[REPS / 2] / 1e3;
    }
}
