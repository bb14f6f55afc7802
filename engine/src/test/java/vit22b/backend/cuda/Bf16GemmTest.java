package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.kernels.Kernels;
import vit22b.model.GeluKind;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * gemm_bf16 (tensor cores, bf16 in and out, fp32 accumulate) with both epilogues (in-projection:
 * GELU part; out-projection: bias + residual) against a float64 GEMM of the same bf16-rounded
 * inputs (read back from the GPU after f32_to_bf16), element by element: within 2^-8 = 3.9e-3
 * relative (bf16 keeps 8 significant bits, so rounding to nearest errs by up to half an ulp,
 * 2^-8 of the value; 2^-9 failed correctly rounded outputs on the emulated device) plus a floor
 * for fp32 accumulation, K * 2^-23 * sum |terms| (DESIGN.md, tolerances). Fresh random inputs; seed printed. Runs on
 * GPU 0, else on the emulated device.
 */
class Bf16GemmTest {
    static final double REL = Math.scalb(1.0, -8);
    static CudaBackend gpu;

    @BeforeAll static void open() { gpu = Gpu.oneOrSkip(); }

    @AfterAll static void close() { if (gpu != null) gpu.close(); }

    Tensor f32(long seed, int... shape) {
        Tensor t = gpu.allocate(shape);
        gpu.upload(t, Check.randn(seed, Math.toIntExact(t.size()), 1.0));
        return t;
    }

    Tensor bf16(Tensor src) {
        Tensor t = gpu.allocate((int) ((src.size() + 1) / 2));
        gpu.kernels().toBf16(CudaBackend.a(t), CudaBackend.a(src), src.size());
        return t;
    }

    /** Unpacks n bf16 values (two per float slot, little-endian) into floats. */
    float[] unpack(Tensor packed, long n) {
        float[] raw = gpu.download(packed), out = new float[Math.toIntExact(n)];
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToRawIntBits(raw[i / 2]);
            int half = (i % 2 == 0) ? bits & 0xffff : bits >>> 16;
            out[i] = Float.intBitsToFloat(half << 16);
        }
        return out;
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    @ParameterizedTest @CsvSource({"300,200,160,40", "128,128,32,0", "77,1000,96,500"})
    void matchesFloat64OfTheRoundedInputs(int M, int N, int K, int geluCols) {
        long seed = System.nanoTime();
        System.out.println("Bf16GemmTest " + M + "x" + N + "x" + K + " seed " + seed);
        Tensor a = f32(seed, M, K), w = f32(seed + 1, N, K), bias = f32(seed + 2, N), res = f32(seed + 3, M, N);
        gpu.scale(w, (float) (1 / Math.sqrt(K)));
        Kernels k = gpu.kernels();
        int gk = GeluKind.TANH.ordinal();
        long gb = geluCols > 0 ? CudaBackend.a(bias) : 0;
        Tensor a16 = bf16(a), w16 = bf16(w), res16 = bf16(res);
        Tensor c16 = gpu.allocate((M * N + 1) / 2), g16 = gpu.allocate((M * Math.max(1, geluCols) + 1) / 2);
        k.gemmBf16(CudaBackend.a(a16), K, CudaBackend.a(w16), K, CudaBackend.a(c16), N, M, N, K,
                CudaBackend.a(bias), CudaBackend.a(res16), N, M, CudaBackend.a(g16), Math.max(1, geluCols), geluCols, gb, gk);
        float[] ah = unpack(a16, (long) M * K), wh = unpack(w16, (long) N * K), rh = unpack(res16, (long) M * N);
        float[] bh = gpu.download(bias);
        double[] c = new double[M * N], cFloor = new double[M * N];
        double[] g = new double[M * geluCols], gFloor = new double[M * geluCols];
        double gamma = K * 0x1p-23;   // fp32 accumulation of K terms, with a factor 2 of margin
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double v = 0, mag = 0;
                for (int kk = 0; kk < K; kk++) {
                    double t = (double) ah[m * K + kk] * wh[n * K + kk];
                    v += t;
                    mag += Math.abs(t);
                }
                v += bh[n] + rh[m * N + n];
                mag += Math.abs(bh[n]) + Math.abs(rh[m * N + n]);
                c[m * N + n] = v;
                cFloor[m * N + n] = gamma * mag;
                if (n < geluCols) {
                    double x = v + bh[n];
                    g[m * geluCols + n] = geluTanh(x);
                    // GELU's slope is below 1.13: the input's error carries over, plus fp32 tanh
                    gFloor[m * geluCols + n] = 1.13 * gamma * (mag + Math.abs(bh[n])) + 1e-6 * (1 + Math.abs(x));
                }
            }
        Check.assertElementwise("bf16 GEMM output (seed " + seed + ")", unpack(c16, (long) M * N), c, REL, cFloor);
        if (geluCols > 0)
            Check.assertElementwise("bf16 GEMM GELU epilogue (seed " + seed + ")", unpack(g16, (long) M * geluCols), g, REL, gFloor);
        for (Tensor t : new Tensor[] {a, w, bias, res, a16, w16, res16, c16, g16}) gpu.free(t);
    }

    @org.junit.jupiter.api.Test void refusesUnalignedK() {
        assertThrows(IllegalArgumentException.class,
                () -> gpu.kernels().gemmBf16(0, 40, 0, 40, 0, 8, 8, 8, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0));
    }
}
