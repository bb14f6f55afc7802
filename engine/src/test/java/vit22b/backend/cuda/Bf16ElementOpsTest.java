package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * The CUDA backend's native bf16 ops other than the GEMMs and attention (BF16 activations and
 * weights in 2-byte storage, fp32 statistics and parameter gradients), on GPU 0 or the emulated
 * device, against the same ops on {@code Bf16Rounding(CpuBackend)}, the exact-semantics
 * reference, from the same fresh random inputs (seed printed). Where both sides do the same fp32
 * arithmetic (add, scale, broadcast, the heads reshuffles) the bf16 results must be bit-equal;
 * elsewhere (GELU's libm, norm and loss sums in another order) each bf16 element within one bf16
 * ulp (2^-7 relative at most: both round an fp32 value once, and two fp32 values a few ulps apart
 * can straddle a rounding midpoint) plus a floor of 1e-6 of the largest, and fp32 outputs
 * (statistics, parameter gradients, the loss) within 1e-5 relative in norm. Shapes cross the
 * 256-thread block, the 32-column tiles, the 8-element vectors (widths of 72 and 70) and start
 * views one element off a 16-byte boundary (the scalar path).
 */
class Bf16ElementOpsTest {
    private static final double BF16_ULP = Math.scalb(1.0, -7);

    /** The outputs of one scenario: name -> values, bf16 ones named with a "bf16 " prefix. */
    private static Map<String, float[]> run(Backend be, BiFunction<Backend, Inputs, Map<String, Tensor>> scenario, long seed) {
        try (be) {
            Map<String, Tensor> outs = scenario.apply(be, new Inputs(be, seed));
            Map<String, float[]> got = new LinkedHashMap<>();
            outs.forEach((name, t) -> got.put(name, be.download(t)));
            return got;
        }
    }

    /** Fresh random tensors on one backend; the n-th call draws the same values on every backend. */
    private static final class Inputs {
        final Backend be;
        long next;

        Inputs(Backend be, long seed) { this.be = be; this.next = seed; }

        Tensor bf16(int... shape) { return fill(be.allocate(DType.BF16, shape), 1.0); }
        Tensor f32(int... shape) { return fill(be.allocate(shape), 1.0); }

        /** A BF16 view starting {@code off} elements into a fresh buffer (off 1: not 16-byte aligned). */
        Tensor bf16View(int off, int... shape) {
            Tensor base = be.allocate(DType.BF16, (int) Tensor.sizeOf(shape) + off);
            return fill(base, 1.0).view(off, shape);
        }

        Tensor fill(Tensor t, double std) {
            be.upload(t, Check.randn(next++, Math.toIntExact(t.size()), std));
            return t;
        }
    }

    private static void compare(String what, BiFunction<Backend, Inputs, Map<String, Tensor>> scenario, boolean exact) {
        long seed = System.nanoTime();
        System.err.printf("Bf16ElementOpsTest %s seed %d%n", what, seed);
        Map<String, float[]> ref = run(new Bf16Rounding(new CpuBackend()), scenario, seed);
        Map<String, float[]> got = run(Gpu.oneOrSkip(), scenario, seed);
        assertEquals(ref.keySet(), got.keySet());
        ref.forEach((name, want) -> {
            float[] g = got.get(name);
            double e = Check.relErr(g, Check.toDouble(want));
            int differ = 0;
            for (int i = 0; i < g.length; i++) if (Float.compare(g[i], want[i]) != 0) differ++;
            System.err.printf("  %-28s rel %.2e, %d of %d elements differ%n", what + " " + name, e, differ, g.length);
            if (!name.startsWith("bf16 ")) {
                assertTrue(e < 1e-5, what + " " + name + ": relative error " + e);
            } else if (exact) {
                assertArrayEquals(want, g, what + " " + name + ": the same fp32 arithmetic must give the same bf16 values");
            } else {
                double max = 0;
                for (float v : want) max = Math.max(max, Math.abs(v));
                double[] floor = new double[want.length];
                java.util.Arrays.fill(floor, 1e-6 * max);
                Check.assertElementwise(what + " " + name, g, Check.toDouble(want), BF16_ULP, floor);
                assertTrue(differ <= Math.max(2, want.length / 20), what + " " + name + ": " + differ + " elements a rounding apart");
            }
        });
    }

    @ParameterizedTest
    @CsvSource({"0", "1"})   // 16-byte aligned (vector path), one element off (scalar path)
    void elementwiseOpsAreBitEqual(int off) {
        compare("elementwise off " + off, (be, in) -> {
            Tensor dst = in.bf16View(off, 1003), src = in.bf16View(off, 1003);
            be.add(dst, src);
            Tensor scaled = in.bf16View(off, 1003);
            be.scale(scaled, 0.37f);
            Tensor bcast = in.bf16View(off, 13, 72), row = in.bf16View(off, 72);
            be.broadcastRows(bcast, row);
            Tensor bcast70 = in.bf16View(off, 13, 70), row70 = in.bf16View(off, 70);
            be.broadcastRows(bcast70, row70);
            int B = 2, N = 7, H = 3, hd = 20, cols = 4 + 3 * H * hd;
            Tensor tok = in.bf16(B * N, cols), heads = in.bf16(B, H, N, hd), back = in.bf16(B * N, cols);
            be.toHeads(heads, tok, H * hd, B, H);
            be.fromHeads(back, 4, heads, B, H);
            Map<String, Tensor> out = new LinkedHashMap<>();
            out.put("bf16 add", dst);
            out.put("bf16 scale", scaled);
            out.put("bf16 broadcastRows 72", bcast);
            out.put("bf16 broadcastRows 70", bcast70);
            out.put("bf16 toHeads", heads);
            out.put("bf16 fromHeads", back);
            return out;
        }, true);
    }

    @ParameterizedTest
    @CsvSource({"0, TANH", "1, EXACT"})
    void geluSumRowsAndSumSquares(int off, GeluKind kind) {
        double[] sumSquares = new double[2];
        int[] call = {0};
        compare("gelu/sumRows " + kind + " off " + off, (be, in) -> {
            Tensor x = in.bf16View(off, 37, 70), y = in.bf16View(off, 37, 70), dy = in.bf16View(off, 37, 70);
            Tensor dx = in.bf16View(off, 37, 70);
            be.geluForward(y, x, kind);
            be.geluBackward(dx, dy, x, kind);
            Tensor rows = in.bf16(45, 70), sumF32 = in.f32(70), sumBf16 = in.bf16(70);
            be.sumRows(sumF32, rows);
            be.sumRows(sumBf16, rows);
            sumSquares[call[0]++] = be.sumSquares(x);
            Map<String, Tensor> out = new LinkedHashMap<>();
            out.put("bf16 geluForward", y);
            out.put("bf16 geluBackward", dx);
            out.put("sumRows f32", sumF32);
            out.put("bf16 sumRows", sumBf16);
            return out;
        }, false);
        assertEquals(sumSquares[0], sumSquares[1], 1e-9 * sumSquares[0], "sumSquares (double accumulation)");
    }

    @ParameterizedTest
    @CsvSource({"37, 72, true, true", "37, 70, false, false", "3, 2056, true, false", "5, 300, false, true"})
    void normsMatchTheReference(int R, int W, boolean centered, boolean bias) {
        compare("norm " + R + "x" + W + (centered ? " centered" : " rms") + (bias ? " bias" : ""), (be, in) -> {
            Tensor x = in.bf16(R, W), scale = in.bf16(W), b = bias ? in.bf16(W) : null;
            Tensor out = be.allocate(DType.BF16, R, W), stats = be.allocate(R, 2);
            be.normForward(out, stats, x, scale, b, centered, 1e-6f);
            Tensor dout = in.bf16(R, W), dx = in.bf16(R, W), dscale = in.f32(W), dbias = bias ? in.f32(W) : null;
            be.normBackward(dx, dscale, dbias, dout, x, scale, stats, centered);
            Map<String, Tensor> o = new LinkedHashMap<>();
            o.put("bf16 out", out);
            o.put("stats", stats);
            o.put("bf16 dx", dx);
            o.put("dscale", dscale);
            if (bias) o.put("dbias", dbias);
            return o;
        }, false);
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 35, 3, 24, true, TANH", "1, 9, 40, 2, 40, false, EXACT"})
    void inProjectionEpilogueMatchesTheReference(int batch, int tokens, int mlp, int heads, int hd, boolean centered,
                                                  GeluKind gelu) {
        Backend.InProj s = new Backend.InProj(batch, tokens, mlp, heads, hd);
        int T = s.rows(), D = s.width();
        compare("inProjection " + s, (be, in) -> {
            Tensor pre = in.fill(be.allocate(DType.BF16, T, s.preCols()), 2.0);
            Tensor bMlp = in.bf16(mlp), qScale = in.bf16(hd), kScale = in.bf16(hd);
            Tensor ag = in.bf16(T, s.agCols()), q = be.allocate(DType.BF16, batch, heads, tokens, hd);
            Tensor k = be.allocate(DType.BF16, batch, heads, tokens, hd), v = be.allocate(DType.BF16, batch, heads, tokens, hd);
            Tensor qkStats = be.allocate(2, batch, heads, tokens, 2);
            be.inProjectionEpilogueForward(s, pre, bMlp, qScale, kScale, ag, q, k, v, qkStats, gelu, centered);
            Tensor dag = in.bf16(T, s.agCols()), dq = in.bf16(batch, heads, tokens, hd), dk = in.bf16(batch, heads, tokens, hd);
            Tensor dv = in.bf16(batch, heads, tokens, hd), dpre = be.allocate(DType.BF16, T, s.preCols());
            Tensor dbMlp = in.f32(mlp), dqScale = in.f32(hd), dkScale = in.f32(hd);
            be.inProjectionEpilogueBackward(s, dag, dq, dk, dv, pre, bMlp, qScale, kScale, qkStats, dpre, dbMlp, dqScale,
                    dkScale, gelu, centered);
            Map<String, Tensor> o = new LinkedHashMap<>();
            o.put("bf16 ag", ag);
            o.put("bf16 q", q);
            o.put("bf16 k", k);
            o.put("bf16 v", v);
            o.put("qkStats", qkStats);
            o.put("bf16 dpre", dpre);
            o.put("dbMlp", dbMlp);
            o.put("dqScale", dqScale);
            o.put("dkScale", dkScale);
            return o;
        }, false);
        assertEquals(D, heads * hd);
    }

    @ParameterizedTest
    @CsvSource({"SIGMOID", "SOFTMAX"})
    void lossMatchesTheReference(LossKind kind) {
        double[] loss = new double[2];
        int[] call = {0};
        compare("loss " + kind, (be, in) -> {
            int B = 3, C = 300;   // C over the 256-thread block
            Tensor logits = in.fill(be.allocate(DType.BF16, B, C), 3.0), dlogits = be.allocate(DType.BF16, B, C);
            Tensor targets = be.allocate(B, C);
            float[] t = Check.uniform(in.next++, B * C, 0, 1);
            if (kind == LossKind.SOFTMAX)
                for (int r = 0; r < B; r++) {
                    double sum = 0;
                    for (int i = 0; i < C; i++) sum += t[r * C + i];
                    for (int i = 0; i < C; i++) t[r * C + i] /= (float) sum;
                }
            be.upload(targets, t);
            loss[call[0]++] = be.lossForwardBackward(logits, targets, dlogits, kind);
            return Map.of("bf16 dlogits", dlogits);
        }, false);
        assertEquals(loss[0], loss[1], 1e-5 * Math.abs(loss[0]), "loss");
    }

    @Test
    void mixturesAreRefusedNamingTheTensor() {
        try (CudaBackend be = Gpu.oneOrSkip()) {
            Tensor x = be.allocate(DType.BF16, 4, 8), outF32 = be.allocate(4, 8), scale = be.allocate(DType.BF16, 8);
            Tensor stats = be.allocate(4, 2), statsBf16 = be.allocate(DType.BF16, 4, 2);
            String m = assertThrows(IllegalArgumentException.class,
                    () -> be.normForward(outF32, stats, x, scale, null, false, 1e-6f)).getMessage();
            assertTrue(m.startsWith("normForward: x is BF16 but out is F32"), m);
            m = assertThrows(IllegalArgumentException.class,
                    () -> be.normForward(be.allocate(DType.BF16, 4, 8), statsBf16, x, scale, null, false, 1e-6f)).getMessage();
            assertTrue(m.startsWith("normForward: stats holds BF16") && m.contains("allocate it F32"), m);
            m = assertThrows(IllegalArgumentException.class, () -> be.add(outF32, x)).getMessage();
            assertTrue(m.startsWith("add: src is BF16 but dst is F32"), m);
            m = assertThrows(IllegalArgumentException.class, () -> be.sumRows(be.allocate(DType.BF16, 8), outF32)).getMessage();
            assertTrue(m.startsWith("sumRows: dst is BF16 but src is F32"), m);
        }
    }
}
