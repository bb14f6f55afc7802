package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Backend.InProj;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.model.GeluKind;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Backend.inProjectionForward on native bf16 tensors: CudaBackend's gemm_bf16_wgmma_qk on the emulated
 * Hopper (one GEMM with the GELU, the QK-norm and the head-major scatter in its epilogue) against the
 * CPU bf16 reference's two steps (Bf16Rounding around CpuBackend: the GEMM, then the epilogue reading
 * pre back), fresh inputs, seeds printed. pre is at most one bf16 ulp from the reference (only the
 * fp32 summation order differs); q, k, v and qkStats are checked element by element against float64
 * computed from the pre the device stored (the epilogue normalises the rounded values, as
 * qknorm_fwd does), and as a whole against the reference (relative error; one ulp of pre moves a
 * normalised value by about as much). ag's GELU is of the rounded pre in both: within one ulp of ag
 * plus gelu' (< 1.2) times the ulp by which pre may differ. Shapes cross the kernel's tile and head
 * edges: M = 74, 129 (a second tile row of one row), 18; N = pre's columns 512, 576, 896, 1024, 240
 * (partial last tiles); hd 64, 128 and 16 (two lanes a head); q's column at a tile edge and mid-tile;
 * centered and not. The two steps where no kernel takes the shape: hd 16 with q at column 40 (not a
 * multiple of hd), and the emulated sm_80 device (gemm_bf16_mma has no fused variant): counted as not
 * fused, one tensor-core GEMM either way.
 */
class FusedInProjectionTest {
    static final double FLOOR = 1e-5;

    @ParameterizedTest
    @CsvSource({"true, 2, 37, 2, 64, 128, true, true", "true, 2, 37, 2, 64, 192, false, true",
                "true, 3, 43, 2, 128, 128, true, true", "true, 1, 37, 2, 128, 256, false, true",
                "true, 2, 9, 4, 16, 48, false, true", "true, 2, 9, 4, 16, 40, true, false",
                "false, 2, 37, 2, 64, 128, true, false"})
    void matchesTheCpuBf16Reference(boolean hopper, int B, int N, int H, int hd, int mlp, boolean centered, boolean fused) {
        Assumptions.assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        InProj s = new InProj(B, N, mlp, H, hd);
        long seed = System.nanoTime();
        String what = (hopper ? "Hopper" : "sm_80") + " " + s + (centered ? " layer" : " rms");
        System.err.printf("FusedInProjectionTest %s: seed %d%n", what, seed);
        float[][] ref;
        try (Backend cpu = new Bf16Rounding(new CpuBackend())) {
            ref = run(cpu, s, seed, centered);
        }
        float[][] got;
        try (CudaBackend dev = CudaBackend.emulated(Precision.BF16, hopper)) {
            got = run(dev, s, seed, centered);
            assertEquals(fused ? 1 : 0, dev.fusedInProjections(), what + ": fused in-projections");
            assertEquals(1, dev.tensorCoreGemms(), what + ": tensor-core GEMMs (fused or not, one)");
        }
        float[] pre = got[0], rpre = ref[0];
        int T = s.rows(), W = s.width(), cols = s.preCols();
        double[] ulp = new double[pre.length];
        for (int i = 0; i < pre.length; i++) ulp[i] = ulpOf(rpre[i]) + FLOOR;
        Check.assertElementwise(what + " pre", pre, Check.toDouble(rpre), 0, ulp);
        // ag's GELU columns
        for (int t = 0; t < T; t++)
            for (int j = 0; j < mlp; j++) {
                int i = t * s.agCols() + W + j;
                double bound = ulpOf(ref[1][i]) + 1.2 * ulpOf(rpre[t * cols + j]) + FLOOR;
                assertTrue(Math.abs(got[1][i] - ref[1][i]) <= bound, what + " ag[" + t + "][" + (W + j) + "] = " + got[1][i]
                        + ", reference " + ref[1][i]);
            }
        // q, k, v, stats from the device's own pre (float64), and against the reference as a whole
        double[][] want = fromPre(s, pre, got[6], centered);
        String[] names = {"q", "k", "v", "stats"};
        for (int o = 0; o < 4; o++) {
            float[] g = got[2 + o];
            double[] w = want[o];
            double[] abs = new double[g.length];
            for (int i = 0; i < g.length; i++) abs[i] = (o == 3 ? 1e-5 * Math.abs(w[i]) : 0.5 * ulpOf((float) w[i])) + FLOOR;
            if (o == 2) for (int i = 0; i < g.length; i++) abs[i] = 0;   // v is pre's values: exact
            Check.assertElementwise(what + " " + names[o] + " vs float64 of the device's pre", g, w, 0, abs);
            double e = Check.relErr(g, Check.toDouble(ref[2 + o]));
            System.err.printf("  %s vs the CPU bf16 reference: rel %.2e%n", names[o], e);
            assertTrue(e < 1e-3, what + " " + names[o] + ": relative error " + e + " to the CPU bf16 reference");
        }
    }

    /** One bf16 ulp at x's magnitude. */
    static double ulpOf(float x) { return Math.scalb(1.0, Math.getExponent(x) - 7); }

    /** pre, ag, q, k, v, stats, qScale|kScale after inProjectionForward on random bf16 inputs from seed. */
    static float[][] run(Backend be, InProj s, long seed, boolean centered) {
        int T = s.rows(), D = s.width(), hd = s.headDim();   // y is (T, D): the block's width
        Tensor y = bf16(be, seed, T, D), wIn = bf16(be, seed + 1, s.preCols(), D), bMlp = bf16(be, seed + 2, s.mlp());
        Tensor qs = be.allocate(DType.BF16, hd), ks = be.allocate(DType.BF16, hd);
        float[] scales = Check.uniform(seed + 3, 2 * hd, 0.5, 1.5);
        be.upload(qs, java.util.Arrays.copyOf(scales, hd));
        be.upload(ks, java.util.Arrays.copyOfRange(scales, hd, 2 * hd));
        Tensor pre = be.allocate(DType.BF16, T, s.preCols()), ag = be.allocate(DType.BF16, T, s.agCols());
        Tensor q = be.allocate(DType.BF16, s.batch(), s.heads(), s.tokens(), hd), k = be.allocate(DType.BF16, s.batch(), s.heads(), s.tokens(), hd);
        Tensor v = be.allocate(DType.BF16, s.batch(), s.heads(), s.tokens(), hd);
        Tensor stats = be.allocate(2, s.batch(), s.heads(), s.tokens(), 2);
        be.inProjectionForward(s, pre, y, wIn, bMlp, qs, ks, ag, q, k, v, stats, GeluKind.TANH, centered);
        float[] sc = new float[2 * hd];
        System.arraycopy(be.download(qs), 0, sc, 0, hd);
        System.arraycopy(be.download(ks), 0, sc, hd, hd);
        return new float[][] {be.download(pre), be.download(ag), be.download(q), be.download(k), be.download(v), be.download(stats), sc};
    }

    /** q, k, v (head-major) and stats (2, B, H, N, 2) in float64 from pre's q, k, v columns. */
    static double[][] fromPre(InProj s, float[] pre, float[] scales, boolean centered) {
        int B = s.batch(), N = s.tokens(), H = s.heads(), hd = s.headDim(), W = s.width(), cols = s.preCols();
        double[][] out = {new double[B * N * W], new double[B * N * W], new double[B * N * W], new double[2 * B * H * N * 2]};
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++)
                for (int h = 0; h < H; h++) {
                    int hm = ((b * H + h) * N + n) * hd, row = (b * N + n) * cols;
                    for (int which = 0; which < 3; which++) {
                        int c0 = row + s.qCol() + which * W + h * hd;
                        if (which == 2) {
                            for (int d = 0; d < hd; d++) out[2][hm + d] = pre[c0 + d];
                            continue;
                        }
                        double mean = 0, ss = 0;
                        if (centered) { for (int d = 0; d < hd; d++) mean += pre[c0 + d]; mean /= hd; }
                        for (int d = 0; d < hd; d++) ss += (pre[c0 + d] - mean) * (pre[c0 + d] - mean);
                        double rstd = 1 / Math.sqrt(ss / hd + vit22b.model.ModelConfig.EPS);
                        for (int d = 0; d < hd; d++) out[which][hm + d] = (pre[c0 + d] - mean) * rstd * scales[which * hd + d];
                        int si = (which * B * H * N + (b * H + h) * N + n) * 2;
                        out[3][si] = mean;
                        out[3][si + 1] = rstd;
                    }
                }
        return out;
    }

    static Tensor bf16(Backend be, long seed, int... shape) {
        Tensor t = be.allocate(DType.BF16, shape);
        be.upload(t, Check.randn(seed, Math.toIntExact(t.size()), 1.0));
        return t;
    }
}
