package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.function.BiFunction;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * The GEMM ops on native BF16 tensors (2-byte storage; GPU 0 else the emulated device) against the
 * same ops with the same bf16 inputs on the CPU bf16 reference (Bf16Rounding around CpuBackend),
 * fresh seeds printed: linear forward and backward, the out-projection with its residual in place,
 * patch embedding. Activations, weights and biases are BF16, parameter gradients F32, as the
 * model allocates them. Every GEMM runs on the tensor cores (counted), also where rows are not a
 * multiple of 8 elements (the element-wise loads). The products are the reference's, only the
 * order of fp32 summation differs: a bf16 output is at most one bf16 ulp from the reference's
 * (both round nearly the same fp32 sum once; a missing or double rounding, a wrong operand or a
 * bf16 accumulator is far outside), the fp32 ones (dw, dbias, dpos, accumulated onto random
 * values) agree to 1e-5 relative.
 */
class Bf16NativeGemmTest {
    /** Absolute floor beside one ulp: fp32 sums of a few hundred unit products differ by ~1e-6. */
    static final double FLOOR = 1e-5;

    @ParameterizedTest
    @CsvSource({"37, 24, 40", "130, 136, 8", "9, 10, 12", "131, 10, 45"})
    void linearMatchesTheCpuReference(int R, int N, int K) {
        compare("linear " + R + "x" + N + "x" + K, 3, (be, seed) -> {
            Tensor in = bf16(be, seed, R, K), w = bf16(be, seed + 1, N, K), bias = bf16(be, seed + 2, N);
            Tensor dout = bf16(be, seed + 3, R, N), din = bf16(be, seed + 4, R, K), out = be.allocate(DType.BF16, R, N);
            Tensor dw = f32(be, seed + 5, N, K), dbias = f32(be, seed + 6, N);
            be.linearForward(out, in, w, bias);
            be.linearBackward(din, dw, dbias, dout, in, w);
            return new Result(new float[][] {be.download(out), be.download(din)}, new float[][] {be.download(dw), be.download(dbias)});
        });
    }

    /** x += ag wOut^T + bOut in place (out == x), then dag (bf16, accumulated), dwOut, dbOut. */
    @ParameterizedTest
    @CsvSource({"131, 24, 40", "19, 20, 30"})
    void outProjectionInPlaceMatchesTheCpuReference(int T, int D, int M) {
        compare("out-projection T=" + T + " D=" + D + " M=" + M, 3, (be, seed) -> {
            Tensor x = bf16(be, seed, T, D), ag = bf16(be, seed + 1, T, D + M), wOut = bf16(be, seed + 2, D, D + M);
            Tensor bOut = bf16(be, seed + 3, D), dout = bf16(be, seed + 4, T, D), dag = bf16(be, seed + 5, T, D + M);
            Tensor dw = f32(be, seed + 6, D, D + M), db = f32(be, seed + 7, D);
            be.outProjectionForward(x, x, ag, wOut, bOut);
            be.outProjectionBackward(dag, dw, db, dout, ag, wOut);
            return new Result(new float[][] {be.download(x), be.download(dag)}, new float[][] {be.download(dw), be.download(db)});
        });
    }

    /**
     * Images fp32 holding bf16 values (the native path rounds the pixels to bf16 as the GEMM's
     * operand, the reference multiplies them as they are: equal only on bf16-valued images).
     */
    @ParameterizedTest
    @CsvSource({"2, 3, 12, 4, 24", "3, 1, 9, 3, 10", "2, 3, 48, 16, 136"})
    void patchEmbeddingMatchesTheCpuReference(int B, int C, int S, int P, int D) {
        int N = (S / P) * (S / P);
        compare("patch embedding B=" + B + " C=" + C + " S=" + S + " P=" + P + " D=" + D, 2, (be, seed) -> {
            Tensor images = be.allocate(B, C, S, S);
            float[] px = Check.uniform(seed, Math.toIntExact(images.size()), -1, 1);
            for (int i = 0; i < px.length; i++) px[i] = Bf16.round(px[i]);
            be.upload(images, px);
            Tensor w = bf16(be, seed + 1, D, C, P, P), b = bf16(be, seed + 2, D), pos = bf16(be, seed + 3, N, D);
            Tensor out = be.allocate(DType.BF16, B, N, D), dout = bf16(be, seed + 4, B, N, D);
            Tensor dw = f32(be, seed + 5, D, C, P, P), db = f32(be, seed + 6, D), dpos = f32(be, seed + 7, N, D);
            be.patchEmbedForward(out, images, w, b, pos, P);
            be.patchEmbedBackward(dw, db, dpos, dout, images, P);
            return new Result(new float[][] {be.download(out)}, new float[][] {be.download(dw), be.download(db), be.download(dpos)});
        });
    }

    @Test void mixturesAreRefusedNamingTheTensor() {
        try (CudaBackend be = Gpu.oneOrSkip()) {
            Tensor in = be.allocate(DType.BF16, 4, 8), w = be.allocate(DType.BF16, 8, 8);
            Tensor out32 = be.allocate(4, 8), out16 = be.allocate(DType.BF16, 4, 8), bias32 = be.allocate(8);
            String m = assertThrows(IllegalArgumentException.class, () -> be.linearForward(out32, in, w, null)).getMessage();
            assertTrue(m.contains("linearForward: out") && m.contains("allocate out as BF16"), m);
            m = assertThrows(IllegalArgumentException.class, () -> be.linearForward(out16, in, w, bias32)).getMessage();
            assertTrue(m.contains("bias") && m.contains("allocate bias as BF16"), m);
            Tensor dw16 = be.allocate(DType.BF16, 8, 8);
            m = assertThrows(IllegalArgumentException.class, () -> be.linearBackward(null, dw16, null, out16, in, w)).getMessage();
            assertTrue(m.contains("dw") && m.contains("allocate dw as F32"), m);
            assertEquals(1, m.lines().count(), "one line: " + m);
        }
    }

    /** What one run gives: bf16 outputs (compared within one ulp) and fp32 ones (1e-5 relative). */
    record Result(float[][] bf16, float[][] f32) {}

    /** Runs op on the reference and on the device from one fresh seed; expects gemms tensor-core GEMMs. */
    static void compare(String what, int gemms, BiFunction<Backend, Long, Result> op) {
        long seed = System.nanoTime();
        System.err.printf("Bf16NativeGemmTest %s: seed %d%n", what, seed);
        Result ref;
        try (Backend cpu = new Bf16Rounding(new CpuBackend())) {
            ref = op.apply(cpu, seed);
        }
        Result got;
        try (CudaBackend cuda = Gpu.oneOrSkip()) {
            got = op.apply(cuda, seed);
            assertEquals(gemms, cuda.tensorCoreGemms(), what + ": GEMMs on the tensor cores");
        }
        for (int i = 0; i < ref.bf16().length; i++) {
            float[] g = got.bf16()[i], r = ref.bf16()[i];
            double[] ulp = new double[r.length];
            for (int j = 0; j < r.length; j++) {
                assertEquals(Bf16.round(g[j]), g[j], what + " bf16 output " + i + "[" + j + "] is not a bf16 value");
                ulp[j] = Math.scalb(1.0, Math.getExponent(r[j]) - 7) + FLOOR;   // one bf16 ulp of the reference
            }
            Check.assertElementwise(what + " bf16 output " + i, g, Check.toDouble(r), 0, ulp);
            System.err.printf("  bf16 output %d: rel %.2e%n", i, Check.relErr(g, Check.toDouble(r)));
        }
        for (int i = 0; i < ref.f32().length; i++) {
            double e = Check.relErr(got.f32()[i], Check.toDouble(ref.f32()[i]));
            System.err.printf("  fp32 output %d: rel %.2e%n", i, e);
            assertTrue(e < 1e-5, what + " fp32 output " + i + ": relative error " + e + " >= 1e-5 "
                    + Arrays.toString(Arrays.copyOf(got.f32()[i], 4)));
        }
    }

    static Tensor bf16(Backend be, long seed, int... shape) {
        Tensor t = be.allocate(DType.BF16, shape);
        be.upload(t, Check.randn(seed, Math.toIntExact(t.size()), 1.0));
        return t;
    }

    static Tensor f32(Backend be, long seed, int... shape) {
        Tensor t = be.allocate(shape);
        be.upload(t, Check.randn(seed, Math.toIntExact(t.size()), 1.0));
        return t;
    }
}
