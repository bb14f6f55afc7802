package vit22b.backend.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import vit22b.backend.Backend;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Operands;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;

/**
 * Fused in-projection (tokens x D x (3D+M), with the GELU epilogue and QK-norm) and fused
 * out-projection (tokens x (D+M) x D, bias and residual) of our kernels, against cuBLASLt on
 * the same shapes (plain GEMM, fp32 and bf16; ours in bf16 is the tensor-core GEMM the bf16 step takes, gemm_bf16_mma or
 * gemm_bf16_wgmma on a Hopper, with the same epilogues), for the widths of ViT-B, ViT-L, ViT-e and
 * ViT-22B. Times with CUDA events, median of {@value #REPS} after {@value #WARMUP} warm-ups,
 * random inputs made on the GPU. Each of our results is also compared with cuBLASLt's on
 * {@value #SAMPLE_ROWS} rows spread over the output (cuBLASLt's plain GEMM plus our epilogue
 * kernel where ours fuses one): the largest |ours - Lt| / max |Lt row| is reported per row of
 * the table and must stay under {@value #TOL_F32} (fp32, no TF32 on either side) and
 * {@value #TOL_BF16} (bf16 outputs, one rounding each); exit status 1 otherwise.
 * Usage: GemmBench [TOKENS] [JSON_OUT].
 */
public final class GemmBench {
    static final int WARMUP = 3, REPS = 20, SAMPLE_ROWS = 64;
    static final double TOL_F32 = 1e-3, TOL_BF16 = 1e-2;

    record Row(String model, String op, int m, int n, int k, double oursTflops, double lt32Tflops,
               double ours16Tflops, double lt16Tflops, double errF32, double errBf16) {
        double ratio() { return oursTflops / lt32Tflops; }
        boolean agrees() { return errF32 < TOL_F32 && errBf16 < TOL_BF16; }
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
        System.out.printf(Locale.ROOT, "%-8s %-8s %6s %6s %6s %9s %9s %6s %9s %9s %6s %9s %9s  (TFLOP/s; err = max |ours-Lt|/max|Lt| per row)%n",
                "model", "op", "M", "N", "K", "ours f32", "Lt f32", "ratio", "ours bf16", "Lt bf16", "ratio", "err f32", "err bf16");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "%-8s %-8s %6d %6d %6d %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f %9.2e %9.2e%s%n", r.model(), r.op(),
                    r.m(), r.n(), r.k(), r.oursTflops(), r.lt32Tflops(), r.ratio(), r.ours16Tflops(), r.lt16Tflops(),
                    r.ours16Tflops() / r.lt16Tflops(), r.errF32(), r.errBf16(), r.agrees() ? "" : "  MISMATCH");
            json.append(String.format(Locale.ROOT,
                    "  {\"model\":\"%s\",\"op\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"ours_tflops\":%.3f,"
                            + "\"cublaslt_f32_tflops\":%.3f,\"ratio_vs_f32\":%.4f,\"ours_bf16_tflops\":%.3f,"
                            + "\"cublaslt_bf16_tflops\":%.3f,\"ratio_vs_bf16\":%.4f,\"max_rel_err_f32\":%.3e,"
                            + "\"max_rel_err_bf16\":%.3e},\n",
                    r.model(), r.op(), r.m(), r.n(), r.k(), r.oursTflops(), r.lt32Tflops(), r.ratio(), r.ours16Tflops(),
                    r.lt16Tflops(), r.ours16Tflops() / r.lt16Tflops(), r.errF32(), r.errBf16()));
        }
        if (!rows.isEmpty()) json.setLength(json.length() - 2);
        json.append("\n]\n");
        if (args.length > 1) Files.writeString(Path.of(args[1]), json);
        long bad = rows.stream().filter(r -> !r.agrees()).count();
        if (bad > 0) {
            System.err.printf(Locale.ROOT, "GemmBench: %d of %d rows disagree with cuBLASLt (tolerance %.0e fp32, %.0e bf16)%n",
                    bad, rows.size(), TOL_F32, TOL_BF16);
            System.exit(1);
        }
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
        Tensor x16 = bf16(be, x, all), bMlp16 = bf16(be, bMlp, all), bOut16 = bf16(be, bOut, all);   // bf16 outputs take bf16 biases
        // cuBLASLt writes its own outputs, compared with ours after the timing
        Tensor preLt = rnd.apply(new int[] {T, c.inProjRows()}), outLt = rnd.apply(new int[] {T, D});
        Tensor pre16Lt = bf16(be, preLt, all), out16Lt = bf16(be, outLt, all);
        Kernels kk = be.kernels();
        MmaGemmBench.Gemm g16 = MmaGemmBench.hopper(be) ? (o, e) -> kk.gemmBf16Wgmma(be.tensorMaps(), o, e) : kk::gemmBf16Mma;
        int rowsIn = c.inProjRows();
        Operands in16 = new Operands(Form.NT, CudaBackend.a(y16), D, CudaBackend.a(wIn16), D, CudaBackend.a(pre16), rowsIn, T, rowsIn, D);
        Operands out16Op = new Operands(Form.NT, CudaBackend.a(ag16), D + M, CudaBackend.a(wOut16), D + M, CudaBackend.a(out16), D,
                T, D, D + M);

        double fIn = 2.0 * T * c.inProjRows() * D, fOut = 2.0 * T * (D + M) * D;
        Backend.InProj shape = new Backend.InProj(batch, c.tokens(), M, c.heads(), c.headDim());
        boolean centered = c.norm() == NormKind.LAYER;
        double oursIn = fIn / time(be, () -> {
            be.linearForward(pre, y, wIn, null);
            be.inProjectionEpilogueForward(shape, pre, bMlp, qs, ks, ag, q, k, v, st, c.gelu(), centered);
        });
        double ltIn32 = fIn / time(be, () -> lt.matmulNT(CudaBackend.a(preLt), CudaBackend.a(y), CudaBackend.a(wIn),
                T, c.inProjRows(), D, 0f, CublasLt.Type.F32));
        double ltIn16 = fIn / time(be, () -> lt.matmulNT(CudaBackend.a(pre16Lt), CudaBackend.a(y16), CudaBackend.a(wIn16),
                T, c.inProjRows(), D, 0f, CublasLt.Type.BF16));
        // bf16 in-projection: GEMM + bias + GELU epilogue (QK-norm has no bf16 kernel yet)
        double oursIn16 = fIn / time(be, () -> g16.run(in16, Epilogue.plain(true).withGelu(c.gelu().ordinal(), 0, M,
                CudaBackend.a(ag16) + (long) D * 2, D + M, CudaBackend.a(bMlp16))));
        double oursOut16 = fOut / time(be, () -> g16.run(out16Op, Epilogue.plain(true).withBias(CudaBackend.a(bOut16))
                .withResidual(CudaBackend.a(x16), D, T)));
        double oursOut = fOut / time(be, () -> be.outProjectionForward(out, x, ag, wOut, bOut));
        double ltOut32 = fOut / time(be, () -> lt.matmulNT(CudaBackend.a(outLt), CudaBackend.a(ag), CudaBackend.a(wOut),
                T, D, D + M, 0f, CublasLt.Type.F32));
        double ltOut16 = fOut / time(be, () -> lt.matmulNT(CudaBackend.a(out16Lt), CudaBackend.a(ag16), CudaBackend.a(wOut16),
                T, D, D + M, 0f, CublasLt.Type.BF16));

        // Correctness against cuBLASLt. pre (ours, no epilogue on it) vs Lt's plain GEMM; the fp32
        // out-projection fuses bias and residual, so Lt's output gets our epilogue kernel first;
        // the bf16 one is rerun without them (Lt's bf16 output has no epilogue kernel here).
        kk.gemmEpilogue(CudaBackend.a(outLt), D, T, D, CudaBackend.a(bOut), CudaBackend.a(x), D, T, 0, 0, 0, 0, 0);
        g16.run(out16Op, Epilogue.plain(true));
        double errIn32 = maxRowError(be, pre, preLt, T, rowsIn, false), errIn16 = maxRowError(be, pre16, pre16Lt, T, rowsIn, true);
        double errOut32 = maxRowError(be, out, outLt, T, D, false), errOut16 = maxRowError(be, out16, out16Lt, T, D, true);
        for (Tensor t : all) be.free(t);
        return List.of(new Row(c.name(), "in-proj", T, c.inProjRows(), D, oursIn / 1e12, ltIn32 / 1e12, oursIn16 / 1e12,
                        ltIn16 / 1e12, errIn32, errIn16),
                new Row(c.name(), "out-proj", T, D, D + M, oursOut / 1e12, ltOut32 / 1e12, oursOut16 / 1e12,
                        ltOut16 / 1e12, errOut32, errOut16));
    }

    /**
     * max over {@value #SAMPLE_ROWS} rows spread over [0, rows) (first and last included) of
     * max |ours - lt| / max |lt| within the row; bf16 matrices are packed two per float slot.
     * NaN anywhere gives NaN (which fails the tolerance).
     */
    static double maxRowError(CudaBackend be, Tensor ours, Tensor lt, int rows, int cols, boolean bf16) {
        if (bf16 && cols % 2 != 0) throw new IllegalArgumentException("bf16 rows of odd width " + cols + " are not slot-aligned");
        int slots = bf16 ? cols / 2 : cols, n = Math.min(SAMPLE_ROWS, rows);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            long r = n == 1 ? 0 : (long) i * (rows - 1) / (n - 1);
            float[] a = values(be.download(ours.view(r * slots, slots)), bf16), b = values(be.download(lt.view(r * slots, slots)), bf16);
            double diff = 0, scale = 0;
            for (int j = 0; j < cols; j++) {
                diff = Math.max(diff, Math.abs((double) a[j] - b[j]));
                scale = Math.max(scale, Math.abs(b[j]));
                if (Float.isNaN(a[j]) || Float.isNaN(b[j])) return Double.NaN;
            }
            worst = Math.max(worst, diff / Math.max(scale, Float.MIN_NORMAL));
        }
        return worst;
    }

    /** The row's values: itself, or two bf16 per float slot (low half first) widened to float. */
    private static float[] values(float[] slots, boolean bf16) {
        if (!bf16) return slots;
        float[] out = new float[2 * slots.length];
        for (int i = 0; i < slots.length; i++) {
            int bits = Float.floatToRawIntBits(slots[i]);
            out[2 * i] = Float.intBitsToFloat(bits << 16);
            out[2 * i + 1] = Float.intBitsToFloat(bits & 0xffff0000);
        }
        return out;
    }

    private static Tensor bf16(CudaBackend be, Tensor src, List<Tensor> all) {
        Tensor t = be.allocate((int) ((src.size() + 1) / 2));
        be.kernels().toBf16(CudaBackend.a(t), CudaBackend.a(src), src.size());
        all.add(t);
        return t;
    }

    /** Uniform [-1, 1) made on the GPU (fill_uniform): no host data, no upload of gigabytes. */
    static void fillRandom(CudaBackend be, Tensor t, long seed) {
        be.kernels().fillUniform(CudaBackend.a(t), t.size(), seed, -1f, 1f);
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
