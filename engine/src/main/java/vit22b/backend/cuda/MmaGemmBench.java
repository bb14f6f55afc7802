package vit22b.backend.cuda;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Gelu;
import vit22b.kernels.MmaGemm.Operands;
import vit22b.kernels.MmaGemm.QkNorm;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;

/**
 * Our tensor-core GEMMs on the GPU, gemm_bf16_mma and, on a Hopper GPU (compute capability 9.0),
 * gemm_bf16_wgmma: first correct, then fast.
 * <ol>
 * <li>Correctness: each form with its training-step epilogue on a {@value #CHECK_M} x
 * {@value #CHECK_N} x {@value #CHECK_K} problem (off every tile edge) from host random bf16, every
 * element against a float64 host GEMM of the same inputs within (K + 8) 2^-23 sum |terms|
 * (+ 2^-8 |want| for bf16 outputs), the bound of docs/DESIGN.md; each kernel.</li>
 * <li>Speed, for ViT-L, ViT-e and ViT-22B at {@value #IMAGES} images: the in-projection forward (NT,
 * GELU into the MLP columns, bf16), the out-projection's data gradient (NN, GELU backward into
 * the MLP columns, bf16) and the in-projection's weight gradient (TN, fp32, bias gradient), each
 * beside cuBLASLt bf16 on the same shape twice: the plain GEMM (bf16 output: its C type is its A
 * type here), and the GEMM followed by the same epilogue as its own kernel, the way a library GEMM
 * without our fusions would run in the step (NT: gelu_cols_bf16 into the MLP columns; NN:
 * gelu_bwd_cols, the step's unfused GELU-backward kernel, which also sums the MLP bias gradient; TN:
 * col_sum for the bias gradient): the ratio the issue asks for is ours (epilogue fused) over
 * that (epilogue counted as separate kernels); gemm_bf16_wgmma on the same calls on Hopper (its
 * tensor maps from the backend's cache, as in a training step). Timed as GemmBench times (CUDA events, median after warm-ups), random data made on
 * the GPU. The plain GEMMs of ours and cuBLASLt's are then compared on {@value #SAMPLE_ROWS} rows:
 * max |ours - Lt| / max |Lt| per row under {@value #TOL}.</li>
 * <li>On a Hopper, the in-projection forward with its whole epilogue fused (gemm_bf16_wgmma_qk: GELU,
 * QK-norm, head-major q, k, v) beside gemm_bf16_wgmma then the epilogue's two kernels, for each model
 * ({@link #fusedInProjection}): whether fusing pays.</li>
 * </ol>
 * Prints a table with the ratios ours / cuBLASLt; exit status 1 on any failed check.
 * Usage: MmaGemmBench [JSON_OUT].
 */
public final class MmaGemmBench {
    static final int SAMPLE_ROWS = 64, IMAGES = 64;
    static final int CHECK_M = 389, CHECK_N = 261, CHECK_K = 1037;
    static final double TOL = 1e-2;

    /**
     * One shape; the wgmma fields are NaN where the GPU is not a Hopper, the fused ones (the in-projection
     * forward on a Hopper, {@link #fusedInProjection}) elsewhere.
     */
    record Row(String model, String form, String what, int m, int n, int k, double oursTflops, double ltTflops, double ltEpiTflops,
               double err, double wgmmaTflops, double wgmmaErr, double fusedTflops, double twoStepTflops, double fusedErr) {
        double ratio() { return oursTflops / ltTflops; }
        double ratioEpi() { return oursTflops / ltEpiTflops; }
        double wgmmaRatio() { return wgmmaTflops / ltTflops; }
        double wgmmaRatioEpi() { return wgmmaTflops / ltEpiTflops; }
    }

    /** One of our GEMM kernels, as a call of its Kernels wrapper. */
    interface Gemm { void run(Operands o, Epilogue e); }

    static boolean hopper(CudaBackend be) { return be.device().hopper(); }

    public static void main(String[] args) throws IOException {
        List<Row> rows = new ArrayList<>();
        int failures = 0;
        try (CudaBackend be = new CudaBackend(); CublasLt lt = new CublasLt(be)) {
            long seed = System.nanoTime();
            System.out.println("MmaGemmBench: correctness seed " + seed);
            Kernels k = be.kernels();
            for (Form f : Form.values()) failures += check(be, "gemm_bf16_mma", k::gemmBf16Mma, f, new SplittableRandom(seed + f.ordinal()));
            if (hopper(be))
                for (Form f : Form.values())
                    failures += check(be, "gemm_bf16_wgmma", (o, e) -> k.gemmBf16Wgmma(be.tensorMaps(), o, e), f,
                            new SplittableRandom(seed + f.ordinal()));
            else System.out.println("MmaGemmBench: not a Hopper GPU (compute capability 9.0): gemm_bf16_wgmma not run");
            for (String name : List.of("vit-l", "vit-e", "vit-22b")) rows.addAll(bench(be, lt, Presets.get(name)));
        }
        System.out.printf(Locale.ROOT, "%-8s %-4s %-34s %6s %6s %6s %9s %9s %9s %6s %9s %9s %6s %9s%n", "model", "form", "what", "M", "N",
                "K", "mma", "Lt bf16", "Lt+epi", "ratio", "err", "wgmma", "ratio", "err");
        System.out.println("(TFLOP/s of the GEMM's FLOPs; Lt+epi: cuBLASLt then the epilogue as its own kernel; ratios: ours over Lt+epi)");
        StringBuilder json = new StringBuilder("[\n");
        for (Row r : rows) {
            boolean ok = r.err() < TOL && (Double.isNaN(r.wgmmaTflops()) || r.wgmmaErr() < TOL)
                    && (Double.isNaN(r.fusedTflops()) || r.fusedErr() < TOL);
            if (!ok) failures++;
            System.out.printf(Locale.ROOT, "%-8s %-4s %-34s %6d %6d %6d %9.1f %9.1f %9.1f %6.2f %9.2e %9.1f %6.2f %9.2e%s%n", r.model(),
                    r.form(), r.what(), r.m(), r.n(), r.k(), r.oursTflops(), r.ltTflops(), r.ltEpiTflops(), r.ratioEpi(), r.err(),
                    r.wgmmaTflops(), r.wgmmaRatioEpi(), r.wgmmaErr(), ok ? "" : "  MISMATCH");
            json.append(String.format(Locale.ROOT, "  {\"model\":\"%s\",\"form\":\"%s\",\"what\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,"
                            + "\"ours_tflops\":%.3f,\"cublaslt_bf16_tflops\":%.3f,\"cublaslt_epi_tflops\":%.3f,\"ratio\":%.4f,"
                            + "\"ratio_vs_lt_epi\":%.4f,\"max_rel_err\":%.3e%s},\n",
                    r.model(), r.form(), r.what(), r.m(), r.n(), r.k(), r.oursTflops(), r.ltTflops(), r.ltEpiTflops(), r.ratio(),
                    r.ratioEpi(), r.err(),
                    Double.isNaN(r.wgmmaTflops()) ? "" : String.format(Locale.ROOT,
                            ",\"wgmma_tflops\":%.3f,\"wgmma_ratio\":%.4f,\"wgmma_ratio_vs_lt_epi\":%.4f,\"wgmma_max_rel_err\":%.3e",
                            r.wgmmaTflops(), r.wgmmaRatio(), r.wgmmaRatioEpi(), r.wgmmaErr())
                    + (Double.isNaN(r.fusedTflops()) ? "" : String.format(Locale.ROOT,
                            ",\"wgmma_qk_fused_tflops\":%.3f,\"wgmma_two_step_tflops\":%.3f,\"fused_max_rel_err\":%.3e",
                            r.fusedTflops(), r.twoStepTflops(), r.fusedErr()))));
        }
        if (!rows.isEmpty()) json.setLength(json.length() - 2);
        json.append("\n]\n");
        if (args.length > 0) Files.writeString(Path.of(args[0]), json);
        if (failures > 0) {
            System.err.println("MmaGemmBench: " + failures + " check(s) failed");
            System.exit(1);
        }
    }

    // ---- correctness against float64 on the host

    static short bf16(double v) {
        int u = Float.floatToRawIntBits((float) v);
        return (short) ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
    }

    static double widen(short h) { return Float.intBitsToFloat((h & 0xffff) << 16); }

    /** One form of {@code gemm} on host random data; returns the number of failed checks (0 or 1). */
    static int check(CudaBackend be, String name, Gemm gemm, Form f, SplittableRandom rnd) {
        return check(be, name, gemm, f, rnd, CHECK_M, CHECK_N, CHECK_K);
    }

    /** The same on an M x N x K problem (N > 37: the GELU columns start at 37, at most 150 of them). */
    static int check(CudaBackend be, String name, Gemm gemm, Form f, SplittableRandom rnd, int M, int N, int K) {
        final int col0 = 37, cols = Math.min(150, N - col0);
        DeviceRuntime d = be.device();
        int aRows = f == Form.TN ? K : M, aCols = f == Form.TN ? M : K, bRows = f == Form.NT ? N : K, bCols = f == Form.NT ? K : N;
        int lda = (aCols + 7) / 8 * 8, ldb = (bCols + 7) / 8 * 8;
        short[] a = new short[aRows * lda], b = new short[bRows * ldb], aux = new short[M * cols];
        for (int i = 0; i < a.length; i++) a[i] = bf16(rnd.nextDouble(-1, 1));
        for (int i = 0; i < b.length; i++) b[i] = bf16(rnd.nextDouble(-1, 1));
        for (int i = 0; i < aux.length; i++) aux[i] = bf16(rnd.nextDouble(-2, 2));
        short[] gb = new short[cols];   // the GELU bias has the output's type: bf16
        for (int i = 0; i < cols; i++) gb[i] = bf16(rnd.nextDouble(-1, 1));
        List<Long> mem = new ArrayList<>();
        try {
            long dA = put(be, mem, MemorySegment.ofArray(a)), dB = put(be, mem, MemorySegment.ofArray(b));
            long dAux = put(be, mem, MemorySegment.ofArray(aux)), dGb = put(be, mem, MemorySegment.ofArray(gb));
            boolean out16 = f != Form.TN;
            long c = alloc(be, mem, (long) M * N * (out16 ? 2 : 4)), db = alloc(be, mem, 4L * M);
            Epilogue e = switch (f) {
                case NT -> Epilogue.plain(true).withGelu(0, col0, cols, dAux, cols, dGb);
                case NN -> Epilogue.plain(true).withGeluBackward(0, col0, cols, dAux, cols, dGb);
                case TN -> Epilogue.plain(false).withBiasGradient(db);
            };
            gemm.run(new Operands(f, dA, lda, dB, ldb, c, N, M, N, K), e);
            MemorySegment C = get(be, c, (long) M * N * (out16 ? 2 : 4)), G = get(be, dAux, 2L * M * cols), DB = get(be, db, 4L * M);
            double gamma = (K + 8) * 0x1p-23, half = out16 ? 0x1p-8 : 0;
            long bad = 0;
            double worst = 0;
            for (int m = 0; m < M; m++) {
                if (f == Form.TN) {
                    double s = 0, mag = 0;
                    for (int k = 0; k < K; k++) { double x = widen(a[k * lda + m]); s += x; mag += Math.abs(x); }
                    double got = DB.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, m);
                    if (!(Math.abs(got - s) <= gamma * mag)) bad++;
                }
                for (int n = 0; n < N; n++) {
                    double s = 0, mag = 0;
                    for (int k = 0; k < K; k++) {
                        double x = (f == Form.TN ? widen(a[k * lda + m]) : widen(a[m * lda + k]))
                                * (f == Form.NT ? widen(b[n * ldb + k]) : widen(b[k * ldb + n]));
                        s += x;
                        mag += Math.abs(x);
                    }
                    double tol = gamma * mag;
                    boolean inG = n >= col0 && n < col0 + cols;
                    if (f == Form.NN && inG) {
                        double g = geluGrad(widen(aux[m * cols + n - col0]) + widen(gb[n - col0]));
                        tol = tol * Math.abs(g) + 2e-6 * Math.abs(s);
                        s *= g;
                    }
                    double got = out16 ? widen(C.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, (long) m * N + n))
                            : C.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) m * N + n);
                    double err = Math.abs(got - s), bound = tol + half * Math.abs(s);
                    if (!(err <= bound)) bad++;
                    worst = Math.max(worst, err / Math.max(bound, Double.MIN_NORMAL));
                    if (f == Form.NT && inG) {
                        double x = s + widen(gb[n - col0]), want = gelu(x);
                        double gGot = widen(G.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, (long) m * cols + n - col0));
                        if (!(Math.abs(gGot - want) <= 1.2 * (tol + gamma) + 1e-6 * (Math.abs(want) + 1) + half * Math.abs(want))) bad++;
                    }
                }
            }
            System.out.printf(Locale.ROOT, "check %s %s %dx%dx%d vs float64: %s (%d elements outside the bound; worst err/bound %.2f)%n",
                    name, f, M, N, K, bad == 0 ? "pass" : "FAIL", bad, worst);
            return bad == 0 ? 0 : 1;
        } finally {
            for (long p : mem) d.free(p);
        }
    }

    static double gelu(double x) { return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))); }

    static double geluGrad(double x) { return (gelu(x + 1e-5) - gelu(x - 1e-5)) / 2e-5; }

    static long alloc(CudaBackend be, List<Long> mem, long bytes) {
        long p = be.device().allocate(bytes);
        mem.add(p);
        return p;
    }

    static long put(CudaBackend be, List<Long> mem, MemorySegment data) {
        long p = alloc(be, mem, data.byteSize());
        MemorySegment host = be.device().allocateHost(data.byteSize());
        host.copyFrom(data);
        be.device().copyToDevice(p, host, data.byteSize(), be.stream());
        be.stream().synchronize();
        be.device().freeHost(host);
        return p;
    }

    static MemorySegment get(CudaBackend be, long p, long bytes) {
        MemorySegment host = be.device().allocateHost(bytes), out = MemorySegment.ofArray(new byte[Math.toIntExact(bytes)]);
        be.device().copyToHost(host, p, bytes, be.stream());
        be.stream().synchronize();
        out.copyFrom(host);
        be.device().freeHost(host);
        return out;
    }

    // ---- speed beside cuBLASLt

    /** The three forms on model c's shapes at IMAGES images. */
    static List<Row> bench(CudaBackend be, CublasLt lt, ModelConfig c) {
        int D = c.width(), Mlp = c.mlp(), R = c.inProjRows(), T = IMAGES * c.tokens();
        Kernels k = be.kernels();
        boolean hopper = hopper(be);
        Gemm wg = (o, e) -> k.gemmBf16Wgmma(be.tensorMaps(), o, e);
        List<Long> mem = new ArrayList<>();
        try {
            long y = rnd16(be, mem, (long) T * D, 1), wIn = rnd16(be, mem, (long) R * D, 2), pre = rnd16(be, mem, (long) T * R, 3);
            long dOut = rnd16(be, mem, (long) T * D, 4), wOut = rnd16(be, mem, (long) D * (D + Mlp), 5);
            long gb = rnd16(be, mem, Mlp, 6), ag = alloc(be, mem, 2L * T * (D + Mlp)), dag = alloc(be, mem, 2L * T * (D + Mlp));
            long preOut = alloc(be, mem, 2L * T * R), dW = alloc(be, mem, 4L * R * D), db = alloc(be, mem, 4L * R);
            long ltOut = alloc(be, mem, 2L * Math.max((long) T * Math.max(R, D + Mlp), (long) R * D));
            long oursPlain = alloc(be, mem, 4L * Math.max((long) T * Math.max(R, D + Mlp), (long) R * D));
            int gk = c.gelu().ordinal();
            List<Row> rows = new ArrayList<>();

            // forward NT: pre = y Win^T, GELU(pre + b) into ag's MLP columns
            Operands nt = new Operands(Form.NT, y, D, wIn, D, preOut, R, T, R, D);
            double f = 2.0 * T * R * D;
            double ours = f / GemmBench.time(be, () -> k.gemmBf16Mma(nt, Epilogue.plain(true).withGelu(gk, 0, Mlp, ag + 2L * D, D + Mlp, gb)));
            double ref = f / GemmBench.time(be, () -> lt.matmul(ltOut, R, y, D, false, wIn, D, true, T, R, D, 0f, CublasLt.Type.BF16));
            double refEpi = f / GemmBench.time(be, () -> {
                lt.matmul(ltOut, R, y, D, false, wIn, D, true, T, R, D, 0f, CublasLt.Type.BF16);
                k.geluColsBf16(ag + 2L * D, D + Mlp, ltOut, R, gb, T, Mlp, gk);
            });
            Operands ntPlain = new Operands(Form.NT, y, D, wIn, D, oursPlain, R, T, R, D);
            k.gemmBf16Mma(ntPlain, Epilogue.plain(true));
            double err = agreement(be, oursPlain, true, ltOut, T, R);
            double[] w = hopper ? wgmma(be, wg, nt, Epilogue.plain(true).withGelu(gk, 0, Mlp, ag + 2L * D, D + Mlp, gb), f, ntPlain,
                    true, ltOut, T, R) : new double[] {Double.NaN, Double.NaN};
            double[] fu = hopper ? fusedInProjection(be, c, nt, gb) : new double[] {Double.NaN, Double.NaN, Double.NaN};
            rows.add(new Row(c.name(), "NT", "in-proj fwd, GELU epilogue", T, R, D, ours / 1e12, ref / 1e12, refEpi / 1e12, err, w[0], w[1],
                    fu[0], fu[1], fu[2]));

            // data gradient NN: dag = dOut Wout, MLP columns times gelu'(pre + b)
            Operands nn = new Operands(Form.NN, dOut, D, wOut, D + Mlp, dag, D + Mlp, T, D + Mlp, D);
            f = 2.0 * T * (D + Mlp) * D;
            ours = f / GemmBench.time(be, () -> k.gemmBf16Mma(nn, Epilogue.plain(true).withGeluBackward(gk, D, Mlp, pre, R, gb)));
            ref = f / GemmBench.time(be, () -> lt.matmul(ltOut, D + Mlp, dOut, D, false, wOut, D + Mlp, false, T, D + Mlp, D, 0f, CublasLt.Type.BF16));
            refEpi = f / GemmBench.time(be, () -> {
                lt.matmul(ltOut, D + Mlp, dOut, D, false, wOut, D + Mlp, false, T, D + Mlp, D, 0f, CublasLt.Type.BF16);
                k.geluBwdCols(true, preOut, R, pre, gb, ltOut, D + Mlp, D, T, Mlp, gk, db);
            });
            Operands nnPlain = new Operands(Form.NN, dOut, D, wOut, D + Mlp, oursPlain, D + Mlp, T, D + Mlp, D);
            k.gemmBf16Mma(nnPlain, Epilogue.plain(true));
            err = agreement(be, oursPlain, true, ltOut, T, D + Mlp);
            w = hopper ? wgmma(be, wg, nn, Epilogue.plain(true).withGeluBackward(gk, D, Mlp, pre, R, gb), f, nnPlain, true, ltOut,
                    T, D + Mlp) : new double[] {Double.NaN, Double.NaN};
            rows.add(new Row(c.name(), "NN", "out-proj dgrad, GELU-bwd epilogue", T, D + Mlp, D, ours / 1e12, ref / 1e12, refEpi / 1e12,
                    err, w[0], w[1], Double.NaN, Double.NaN, Double.NaN));

            // weight gradient TN: dWin = dpre^T y (fp32), db = column sums of dpre
            Operands tn = new Operands(Form.TN, pre, R, y, D, dW, D, R, D, T);
            f = 2.0 * R * D * T;
            ours = f / GemmBench.time(be, () -> k.gemmBf16Mma(tn, Epilogue.plain(false).withBiasGradient(db)));
            ref = f / GemmBench.time(be, () -> lt.matmul(ltOut, D, pre, R, true, y, D, false, R, D, T, 0f, CublasLt.Type.BF16));
            refEpi = f / GemmBench.time(be, () -> {
                lt.matmul(ltOut, D, pre, R, true, y, D, false, R, D, T, 0f, CublasLt.Type.BF16);
                k.colSum(true, false, db, pre, T, R, R);
            });
            err = agreement(be, dW, false, ltOut, R, D);
            w = hopper ? wgmma(be, wg, tn, Epilogue.plain(false).withBiasGradient(db), f, tn, false, ltOut, R, D)
                    : new double[] {Double.NaN, Double.NaN};
            rows.add(new Row(c.name(), "TN", "in-proj wgrad fp32, bias grad", R, D, T, ours / 1e12, ref / 1e12, refEpi / 1e12, err, w[0], w[1],
                    Double.NaN, Double.NaN, Double.NaN));
            return rows;
        } finally {
            for (long p : mem) be.device().free(p);
        }
    }

    /**
     * The in-projection forward on a Hopper both ways the CUDA backend can run it (CudaBackend.inProjectionForward):
     * fused, gemm_bf16_wgmma_qk (GELU, QK-norm and the head-major q, k, v in the GEMM's epilogue), and in two
     * steps, gemm_bf16_wgmma writing pre then gelu_cols_bf16 and qknorm_fwd reading it back; both in TFLOP/s
     * of the GEMM's FLOPs, so their ratio is what fusing pays. Model c's heads at {@code nt}'s rows (q at
     * column mlp); the outputs of the two agree: pre, q and v on SAMPLE_ROWS rows each (q differs only by the
     * order of the statistics' sums). Returns {fused, two-step TFLOP/s, max agreement}; NaN TFLOP/s where the
     * kernel does not take the model's heads (Kernels.wgmmaQkRefusal).
     */
    static double[] fusedInProjection(CudaBackend be, ModelConfig c, Operands nt, long gb) {
        int D = c.width(), Mlp = c.mlp(), R = c.inProjRows(), T = nt.m(), H = c.heads(), hd = c.headDim(), N = c.tokens();
        Kernels k = be.kernels();
        List<Long> mem = new ArrayList<>();
        try {
            long qs = rnd16(be, mem, hd, 7), ks = rnd16(be, mem, hd, 8), ag = alloc(be, mem, 2L * T * (D + Mlp));
            long[] q = new long[2], kk = new long[2], v = new long[2], pre = new long[2];
            for (int i = 0; i < 2; i++) {
                q[i] = alloc(be, mem, 2L * T * D);
                kk[i] = alloc(be, mem, 2L * T * D);
                v[i] = alloc(be, mem, 2L * T * D);
                pre[i] = alloc(be, mem, 2L * T * R);
            }
            long stats = alloc(be, mem, 4L * 2 * T * H * 2);
            int gk = c.gelu().ordinal();
            Gelu g = new Gelu(false, gk, 0, Mlp, ag + 2L * D, D + Mlp, gb);
            QkNorm[] qk = new QkNorm[2];
            for (int i = 0; i < 2; i++) qk[i] = new QkNorm(qs, ks, q[i], kk[i], v[i], stats, Mlp, N, H, hd, true, ModelConfig.EPS);
            Operands fused = new Operands(Form.NT, nt.a(), D, nt.b(), D, pre[0], R, T, R, D);
            Operands plain = new Operands(Form.NT, nt.a(), D, nt.b(), D, pre[1], R, T, R, D);
            if (Kernels.wgmmaQkRefusal(fused, g, qk[0]) != null) return new double[] {Double.NaN, Double.NaN, Double.NaN};
            double f = 2.0 * T * R * D;
            double tFused = GemmBench.time(be, () -> k.gemmBf16WgmmaQk(be.tensorMaps(), fused, g, qk[0]));
            double tTwo = GemmBench.time(be, () -> {
                k.gemmBf16Wgmma(be.tensorMaps(), plain, Epilogue.plain(true));
                k.geluColsBf16(ag + 2L * D, D + Mlp, pre[1], R, gb, T, Mlp, gk);
                k.qknormFwd(true, pre[1], R, Mlp, qs, ks, q[1], kk[1], v[1], stats, T / N, N, H, hd, true, ModelConfig.EPS);
            });
            double err = Math.max(agreement(be, pre[0], true, pre[1], T, R),
                    Math.max(agreement(be, q[0], true, q[1], T * H, hd), agreement(be, v[0], true, v[1], T * H, hd)));
            System.out.printf(Locale.ROOT, "%s in-proj fwd %dx%dx%d (hd %d): fused gemm_bf16_wgmma_qk %.1f TFLOP/s, gemm_bf16_wgmma + "
                    + "gelu_cols_bf16 + qknorm_fwd %.1f TFLOP/s (%.3f ms vs %.3f ms), outputs agree to %.2e%n", c.name(), T, R, D, hd,
                    f / tFused / 1e12, f / tTwo / 1e12, tFused * 1e3, tTwo * 1e3, err);
            return new double[] {f / tFused / 1e12, f / tTwo / 1e12, err};
        } finally {
            for (long p : mem) be.device().free(p);
        }
    }

    /**
     * gemm_bf16_wgmma on one shape: {TFLOP/s with the fused epilogue {@code e}, agreement of its plain
     * output (operands {@code plain}, into the buffer gemm_bf16_mma's plain run used) with cuBLASLt's}.
     */
    static double[] wgmma(CudaBackend be, Gemm wg, Operands o, Epilogue e, double flops, Operands plain, boolean out16,
                          long lt, int rows, int cols) {
        double tflops = flops / GemmBench.time(be, () -> wg.run(o, e)) / 1e12;
        wg.run(plain, out16 ? Epilogue.plain(true) : e);
        return new double[] {tflops, agreement(be, plain.c(), out16, lt, rows, cols)};
    }

    /** n bf16 uniform [-1, 1) made on the GPU (fill_uniform into a scratch fp32 buffer, then cast). */
    static long rnd16(CudaBackend be, List<Long> mem, long n, long seed) {
        long scratch = be.device().allocate(4 * n), out = alloc(be, mem, 2 * n);
        be.kernels().fillUniform(scratch, n, seed, -1f, 1f);
        be.kernels().toBf16(out, scratch, n);
        be.stream().synchronize();
        be.device().free(scratch);
        return out;
    }

    /** max over SAMPLE_ROWS rows of max |ours - lt| / max |lt| in the row (lt is bf16; ours bf16 or fp32). */
    static double agreement(CudaBackend be, long ours, boolean ours16, long lt, int rows, int cols) {
        int n = Math.min(SAMPLE_ROWS, rows);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            long r = n == 1 ? 0 : (long) i * (rows - 1) / (n - 1);
            MemorySegment o = get(be, ours + r * cols * (ours16 ? 2 : 4), (long) cols * (ours16 ? 2 : 4));
            MemorySegment l = get(be, lt + r * cols * 2, 2L * cols);
            double diff = 0, scale = 0;
            for (int j = 0; j < cols; j++) {
                double x = ours16 ? widen(o.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, j)) : o.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, j);
                double y = widen(l.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, j));
                if (Double.isNaN(x) || Double.isNaN(y)) return Double.NaN;
                diff = Math.max(diff, Math.abs(x - y));
                scale = Math.max(scale, Math.abs(y));
            }
            worst = Math.max(worst, diff / Math.max(scale, Float.MIN_NORMAL));
        }
        return worst;
    }
}
