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
 * gemm_bf16 (tensor cores, bf16 in and out, fp32 accumulate) against the fp32 GEMM on the
 * same fresh random inputs, with both epilogues (in-projection: GELU part; out-projection:
 * bias + residual): relative error below 2e-2. Runs on GPU 0, else on the emulated device.
 */
class Bf16GemmTest {
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

    @ParameterizedTest @CsvSource({"300,200,160,40", "128,128,32,0", "77,1000,96,500"})
    void matchesFp32(int M, int N, int K, int geluCols) {
        long seed = System.nanoTime();
        System.err.println("Bf16GemmTest.matchesFp32(" + M + "," + N + "," + K + "," + geluCols + ") seed " + seed);
        Tensor a = f32(seed, M, K), w = f32(seed + 1, N, K), bias = f32(seed + 2, N), res = f32(seed + 3, M, N);
        gpu.scale(w, (float) (1 / Math.sqrt(K)));
        Tensor c32 = gpu.allocate(M, N), g32 = gpu.allocate(M, Math.max(1, geluCols));
        Kernels k = gpu.kernels();
        int gk = GeluKind.TANH.ordinal();
        long gb = geluCols > 0 ? CudaBackend.a(bias) : 0;
        k.gemm(CudaBackend.a(a), K, 1, CudaBackend.a(w), 1, K, CudaBackend.a(c32), N, M, N, K, false,
                CudaBackend.a(bias), CudaBackend.a(res), N, M, CudaBackend.a(g32), Math.max(1, geluCols), geluCols, gb, gk);
        Tensor a16 = bf16(a), w16 = bf16(w), res16 = bf16(res);
        Tensor c16 = gpu.allocate((M * N + 1) / 2), g16 = gpu.allocate((M * Math.max(1, geluCols) + 1) / 2);
        k.gemmBf16(CudaBackend.a(a16), K, CudaBackend.a(w16), K, CudaBackend.a(c16), N, M, N, K,
                CudaBackend.a(bias), CudaBackend.a(res16), N, M, CudaBackend.a(g16), Math.max(1, geluCols), geluCols, gb, gk);
        Check.assertClose("bf16 GEMM output", unpack(c16, (long) M * N), Check.toDouble(gpu.download(c32)), 2e-2);
        if (geluCols > 0)
            Check.assertClose("bf16 GEMM GELU epilogue", unpack(g16, (long) M * geluCols), Check.toDouble(gpu.download(g32)), 2e-2);
        for (Tensor t : new Tensor[] {a, w, bias, res, c32, g32, a16, w16, res16, c16, g16}) gpu.free(t);
    }

    @org.junit.jupiter.api.Test void refusesUnalignedK() {
        assertThrows(IllegalArgumentException.class,
                () -> gpu.kernels().gemmBf16(0, 40, 0, 40, 0, 8, 8, 8, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0));
    }
}
