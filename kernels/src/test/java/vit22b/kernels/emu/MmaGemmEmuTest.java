package vit22b.kernels.emu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Operands;

/**
 * gemm_bf16_mma through the Java wrapper on the emulated device (the bundled library): one shape
 * per form, each with the epilogue a training step uses there (NT: bf16 output with GELU into a
 * column range; NN: GELU backward; TN: fp32 accumulate with the bias gradient), against float64
 * of the same bf16 inputs. Bound per element: (K + 8) 2^-23 sum |terms| (+ 2^-8 |want| for bf16
 * outputs), as the C++ suite and docs/DESIGN.md; fresh random inputs, seed printed.
 */
class MmaGemmEmuTest {
    EmuSession e;
    Kernels k;
    SplittableRandom rnd;

    @BeforeEach void open() {
        Assumptions.assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        e = new EmuSession("MmaGemmEmuTest");
        k = e.k;
        rnd = e.rnd;
    }

    @AfterEach void close() {
        if (e != null) e.close();
    }

    static short bf16(double v) { return EmuSession.bf16(v); }

    static double widen(short h) { return EmuSession.widen(h); }

    short[] randomBf16(int n) { return e.randomBf16(n, -1, 1); }

    long upload(MemorySegment data) { return e.upload(data); }

    MemorySegment download(long d, long bytes) { return e.download(d, bytes); }

    long fresh(long bytes) { return e.fresh(bytes); }

    /** op(A)(m, k) and op(B)(k, n) of stored bf16 operands, as the form lays them out. */
    record Ops(Form form, short[] a, int lda, short[] b, int ldb) {
        double a(int m, int k) { return widen(form == Form.TN ? a[k * lda + m] : a[m * lda + k]); }
        double b(int k, int n) { return widen(form == Form.NT ? b[n * ldb + k] : b[k * ldb + n]); }
    }

    static void check(String what, double got, double want, double bound, int[] bad) {
        if (!(Math.abs(got - want) <= bound) && bad[0]++ < 3)
            System.out.printf("%s: got %.9g want %.9g (bound %.3g)%n", what, got, want, bound);
    }

    @Test void formsWithTheirStepEpiloguesMatchFloat64() {
        final int M = 130, N = 70, K = 45;
        final double gamma = (K + 8) * 0x1p-23, half = 0x1p-8;
        int[] bad = {0};
        for (Form f : Form.values()) {
            int aRows = f == Form.TN ? K : M, aCols = f == Form.TN ? M : K, bRows = f == Form.NT ? N : K, bCols = f == Form.NT ? K : N;
            int lda = (aCols + 7) / 8 * 8, ldb = (bCols + 7) / 8 * 8;
            short[] a = randomBf16(aRows * lda), b = randomBf16(bRows * ldb);
            Ops ops = new Ops(f, a, lda, b, ldb);
            long dA = upload(MemorySegment.ofArray(a)), dB = upload(MemorySegment.ofArray(b));
            int col0 = 17, cols = 40;
            short[] gb = randomBf16(cols);   // the GELU bias has the output's type (bf16 here)
            long dGb = upload(MemorySegment.ofArray(gb));
            switch (f) {
                case NT -> {   // in-projection: bf16 pre, GELU(pre + gb) into columns [17, 57)
                    long c = fresh(2L * M * N), g = fresh(2L * M * cols);
                    k.gemmBf16Mma(new Operands(f, dA, lda, dB, ldb, c, N, M, N, K),
                            Epilogue.plain(true).withGelu(0, col0, cols, g, cols, dGb));
                    MemorySegment C = download(c, 2L * M * N), G = download(g, 2L * M * cols);
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double v = 0, mag = 0;
                            for (int kk = 0; kk < K; kk++) { v += ops.a(m, kk) * ops.b(kk, n); mag += Math.abs(ops.a(m, kk) * ops.b(kk, n)); }
                            check("NT C", widen(C.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, m * N + n)), v, gamma * mag + half * Math.abs(v), bad);
                            if (n >= col0 && n < col0 + cols) {
                                double x = v + widen(gb[n - col0]), want = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
                                check("NT gelu", widen(G.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, m * cols + n - col0)), want,
                                        1.2 * gamma * (mag + 1) + 1e-6 * (Math.abs(want) + 1) + half * Math.abs(want), bad);
                            }
                        }
                }
                case NN -> {   // data gradient: columns [17, 57) times gelu'(pre + gb), exact GELU
                    short[] pre = randomBf16(M * cols);
                    long c = fresh(2L * M * N), dPre = upload(MemorySegment.ofArray(pre));
                    k.gemmBf16Mma(new Operands(f, dA, lda, dB, ldb, c, N, M, N, K),
                            Epilogue.plain(true).withGeluBackward(1, col0, cols, dPre, cols, dGb));
                    MemorySegment C = download(c, 2L * M * N);
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double v = 0, mag = 0;
                            for (int kk = 0; kk < K; kk++) { v += ops.a(m, kk) * ops.b(kk, n); mag += Math.abs(ops.a(m, kk) * ops.b(kk, n)); }
                            double bound = gamma * mag;
                            if (n >= col0 && n < col0 + cols) {
                                double x = widen(pre[m * cols + n - col0]) + widen(gb[n - col0]);
                                double cdf = 0.5 * (1 + erf(x / Math.sqrt(2))), d = cdf + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
                                bound = bound * Math.abs(d) + 2e-6 * Math.abs(v);   // gelu' in fp32: ~1e-6 absolute
                                v *= d;
                            }
                            check("NN C", widen(C.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, m * N + n)), v, bound + half * Math.abs(v), bad);
                        }
                }
                case TN -> {   // weight gradient: fp32 dW += dy^T x, db += column sums of dy
                    float[] c0 = new float[M * N], db0 = new float[M];
                    for (int i = 0; i < c0.length; i++) c0[i] = (float) rnd.nextDouble(-1, 1);
                    for (int i = 0; i < M; i++) db0[i] = (float) rnd.nextDouble(-1, 1);
                    long c = upload(MemorySegment.ofArray(c0)), db = upload(MemorySegment.ofArray(db0));
                    k.gemmBf16Mma(new Operands(f, dA, lda, dB, ldb, c, N, M, N, K),
                            Epilogue.plain(false).accumulate().withBiasGradient(db));
                    MemorySegment C = download(c, 4L * M * N), DB = download(db, 4L * M);
                    for (int m = 0; m < M; m++) {
                        double sum = db0[m], smag = Math.abs(db0[m]);
                        for (int kk = 0; kk < K; kk++) { sum += ops.a(m, kk); smag += Math.abs(ops.a(m, kk)); }
                        check("TN dbias", DB.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, m), sum, gamma * smag, bad);
                        for (int n = 0; n < N; n++) {
                            double v = c0[m * N + n], mag = Math.abs(v);
                            for (int kk = 0; kk < K; kk++) { v += ops.a(m, kk) * ops.b(kk, n); mag += Math.abs(ops.a(m, kk) * ops.b(kk, n)); }
                            check("TN C", C.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, m * N + n), v, gamma * mag, bad);
                        }
                    }
                }
            }
            assertTrue(bad[0] == 0, f + ": " + bad[0] + " elements outside the bound (first ones printed above)");
        }
    }

    /** erf to 1.5e-7 (Abramowitz-Stegun 7.1.26): far inside the 2e-6 the bound allows for gelu'. */
    static double erf(double x) {
        double t = 1 / (1 + 0.3275911 * Math.abs(x));
        double y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
        return Math.copySign(y, x);
    }
}
