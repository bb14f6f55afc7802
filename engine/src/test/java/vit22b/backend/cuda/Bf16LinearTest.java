package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * The linear layer of the bf16 recipe on CUDA (Bf16Rounding around CudaBackend, GPU 0 else the
 * emulated device) against the same on the CPU, its exact-semantics reference, from fresh random
 * bf16 operands (seed printed): forward out (bf16, bias), backward din (bf16, accumulated onto
 * random values) and dw, dbias (fp32, accumulated). The products are the same, only the order of
 * fp32 summation differs, so the fp32 dw agrees to 1e-5 relative (a truncated operand or a bf16
 * accumulator would miss it by 1e-3 or more), and the bf16 outputs to 2^-8 per element at most
 * (a sum that lands near a rounding boundary), 4e-3 in norm. Where every operand row is a
 * multiple of 8 elements the three GEMMs run on the tensor cores (counted), else all on the fp32
 * kernel (a K or N of 12 or 10 columns).
 */
class Bf16LinearTest {
    @ParameterizedTest
    @CsvSource({"37, 24, 40, 3", "130, 136, 8, 3", "9, 10, 12, 0", "9, 16, 12, 0"})
    void linearMatchesTheCpuReference(int R, int N, int K, int tensorCoreGemms) {
        long seed = System.nanoTime();
        System.err.printf("Bf16LinearTest %dx%dx%d seed %d%n", R, N, K, seed);
        float[][] ref = run(new Bf16Rounding(new CpuBackend()), R, N, K, seed);
        CudaBackend cuda = Gpu.oneOrSkip();
        long before = cuda.tensorCoreGemms();
        float[][] out;
        try (Bf16Rounding be = new Bf16Rounding(cuda)) {
            out = run(be, R, N, K, seed);
            assertEquals(tensorCoreGemms, cuda.tensorCoreGemms() - before, "GEMMs on the tensor cores");
        }
        String[] names = {"out", "din", "dw", "dbias"};
        double[] bounds = {4e-3, 4e-3, 1e-5, 1e-5};
        for (int i = 0; i < names.length; i++) {
            double e = Check.relErr(out[i], Check.toDouble(ref[i]));
            System.err.printf("  %-5s rel %.2e%n", names[i], e);
            assertTrue(e < bounds[i], names[i] + ": relative error " + e + " >= " + bounds[i]);
        }
        for (int i = 0; i < out[1].length; i++)   // din element-wise: one bf16 rounding apart at most
            assertTrue(Math.abs(out[1][i] - ref[1][i]) <= Math.scalb(1.0, -7) * Math.abs(ref[1][i]) + 1e-6,
                    "din[" + i + "] " + out[1][i] + " vs " + ref[1][i]);
    }

    /** out, din, dw, dbias of one linear forward and backward on be (closed after), from inputs drawn from seed. */
    static float[][] run(Backend be, int R, int N, int K, long seed) {
        try (be) {
            Tensor in = bf16(be, seed, R, K), w = bf16(be, seed + 1, N, K), dout = bf16(be, seed + 2, R, N);
            Tensor din = bf16(be, seed + 3, R, K), out = be.allocate(DType.BF16, R, N);
            Tensor bias = f32(be, seed + 4, N), dw = f32(be, seed + 5, N, K), dbias = f32(be, seed + 6, N);
            be.linearForward(out, in, w, bias);
            be.linearBackward(din, dw, dbias, dout, in, w);
            return new float[][] {be.download(out), be.download(din), be.download(dw), be.download(dbias)};
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
