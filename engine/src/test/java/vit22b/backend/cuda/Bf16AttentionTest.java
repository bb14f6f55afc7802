package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Attention on native BF16 tensors (CudaBackend alone: 2-byte storage; GPU 0 else the emulated
 * device) against the same op on Bf16Rounding(CpuBackend) with the same bf16 inputs, its
 * exact-semantics reference (seed printed). Forward: out written into columns [0, H*hd) of a
 * wider ag-like row whose other columns hold random values that must stay, and the fp32 lse.
 * Backward: dq, dk, dv accumulated onto random bf16 values, both sides fed the reference's out and
 * lse, so that each direction's error is its own. Nq != Nk, neither a multiple of the kernels'
 * tiles, B*H > 1.
 *
 * <p>Which kernels run is asserted ({@link CudaBackend#tensorCoreAttentions}): head dim 64 with
 * 8-aligned rows on the tensor-core flash kernels; head dim 16 (vit-micro-fmnist's) and head dim
 * 64 with a row stride that is not a multiple of 8 on attention.cu's bf16 instantiation.
 * Bounds: attention.cu's kernels compute what the CPU computes in fp32 (other summation order,
 * expf), and both round each stored element once, so elements agree to one bf16 rounding apart
 * (2^-7 relative) plus an fp32-sized floor, and norms to 4e-3 (measured 0 to 1e-9: fp32 values
 * that differ in the last bits almost always round to the same bf16). The flash kernels also
 * round P and dS to bf16 as their second products' operands (DESIGN.md, the one rounding the CPU
 * reference does not make): each output term then carries up to 2^-8 relative error, so the
 * bound is 1e-2 in norm (measured 1.5e-3 to 2.8e-3 on the emulator), not element-wise.
 */
class Bf16AttentionTest {
    @ParameterizedTest(name = "B={0} H={1} Nq={2} Nk={3} hd={4} ldo=H*hd+{5} flash={6}")
    @CsvSource({"1, 2, 70, 33, 64, 8, true", "2, 2, 19, 23, 16, 5, false", "1, 2, 21, 17, 64, 4, false"})
    void matchesTheCpuReference(int B, int H, int Nq, int Nk, int hd, int pad, boolean flash) {
        long seed = System.nanoTime();
        System.err.printf("Bf16AttentionTest B=%d H=%d Nq=%d Nk=%d hd=%d ldo=H*hd+%d seed %d%n", B, H, Nq, Nk, hd, pad, seed);
        Problem p = new Problem(B, H, Nq, Nk, hd, H * hd + pad, seed);
        float[][] ref;
        try (Bf16Rounding cpu = new Bf16Rounding(new CpuBackend())) {
            ref = p.run(cpu, null, null);
        }
        CudaBackend cuda = Gpu.oneOrSkip();
        float[][] got;
        try (cuda) {
            long before = cuda.tensorCoreAttentions();
            got = p.run(cuda, ref[0], ref[1]);
            assertEquals(flash ? 2 : 0, cuda.tensorCoreAttentions() - before, "attention calls on the tensor cores");
        }
        String[] names = {"out", "lse", "dq", "dk", "dv"};
        for (int i = 0; i < names.length; i++) {
            double e = Check.relErr(got[i], Check.toDouble(ref[i]));
            double bound = i == 1 ? 1e-5 : flash ? 1e-2 : 4e-3;
            System.err.printf("  %-3s rel %.2e (bound %.0e)%n", names[i], e, bound);
            assertTrue(e < bound, names[i] + ": relative error " + e + " >= " + bound);
            if (!flash && i != 1) {   // one bf16 rounding apart per element, over an fp32 floor
                double[] floor = new double[ref[i].length];
                Arrays.fill(floor, 1e-5);
                Check.assertElementwise(names[i], got[i], Check.toDouble(ref[i]), 0x1p-7, floor);
            }
        }
        int ldo = p.ldo, hw = H * hd;   // out's columns past H*hd keep their (bf16-rounded) starting values
        for (int i = 0; i < got[0].length; i++)
            if (i % ldo >= hw) assertEquals(ref[0][i], got[0][i], "out[" + i + "]: a column past H*hd was written");
    }

    /**
     * The emulated device opened as a Hopper: the forward runs attention_wgmma.cu (wgmma + TMA,
     * {@link CudaBackend#hopperAttentionForwards}) at every head dim that is a multiple of 8, the
     * backward attention_wgmma_bwd.cu up to hd 128 ({@link CudaBackend#hopperAttentionBackwards};
     * dq, dk, dv accumulated onto random values), the mma.sync flash backward at hd 256 and
     * attention.cu's at other head dims over 128 (200 here); the same bounds as the flash case above
     * (P and dS rounded to bf16 as operands: 1e-2 in norm; the C++ tests back them element-wise).
     * Nq, Nk cross the 128-query blocks, the key tiles (128 at hd <= 128) and the backward's 64-query
     * tiles and 128-key blocks; several tiles wrap the two-stage K/V ring, and a head's last tile
     * reads the next head's rows. Head dims 112 (ViT-e's), 40 and 200 run at the padded 128, 64 and
     * 256 (TMA zero-fills the columns past hd); with H > 1 a padded dout box reads the next head's
     * columns, which must not matter.
     */
    @ParameterizedTest(name = "B={0} H={1} Nq={2} Nk={3} hd={4}")
    @CsvSource({"1, 2, 130, 150, 128", "2, 1, 70, 300, 64", "1, 2, 70, 133, 64", "2, 1, 65, 40, 128", "1, 1, 9, 5, 256",
            "2, 2, 130, 150, 112", "1, 3, 70, 40, 112", "2, 2, 65, 129, 40", "1, 2, 21, 70, 200"})
    void hopperMatchesTheCpuReference(int B, int H, int Nq, int Nk, int hd) {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        long seed = System.nanoTime();
        System.err.printf("Bf16AttentionTest (emulated Hopper) B=%d H=%d Nq=%d Nk=%d hd=%d seed %d%n", B, H, Nq, Nk, hd, seed);
        Problem p = new Problem(B, H, Nq, Nk, hd, H * hd + 8, seed);
        float[][] ref;
        try (Bf16Rounding cpu = new Bf16Rounding(new CpuBackend())) {
            ref = p.run(cpu, null, null);
        }
        float[][] got;
        try (CudaBackend hopper = CudaBackend.emulated(Precision.BF16, true)) {
            got = p.run(hopper, ref[0], ref[1]);
            assertEquals(1, hopper.hopperAttentionForwards(), "forwards on attention_wgmma.cu");
            assertEquals(hd <= 128 ? 1 : 0, hopper.hopperAttentionBackwards(), "backwards on attention_wgmma_bwd.cu");
            assertEquals(hd <= 128 || hd == 256 ? 2 : 1, hopper.tensorCoreAttentions(), "attention calls on the tensor cores");
        }
        String[] names = {"out", "lse", "dq", "dk", "dv"};
        for (int i = 0; i < names.length; i++) {
            double e = Check.relErr(got[i], Check.toDouble(ref[i]));
            double bound = i == 1 ? 1e-5 : 1e-2;
            System.err.printf("  %-3s rel %.2e (bound %.0e)%n", names[i], e, bound);
            assertTrue(e < bound, names[i] + ": relative error " + e + " >= " + bound);
        }
        for (int i = 0; i < got[0].length; i++)
            if (i % p.ldo >= H * hd) assertEquals(ref[0][i], got[0][i], "out[" + i + "]: a column past H*hd was written");
    }

    /** One attention problem's bf16 inputs, drawn from a seed (the same on both backends). */
    static final class Problem {
        final int B, H, Nq, Nk, hd, ldo;
        final float[] q, k, v, outStart, dout, dq, dk, dv;

        Problem(int B, int H, int Nq, int Nk, int hd, int ldo, long seed) {
            this.B = B; this.H = H; this.Nq = Nq; this.Nk = Nk; this.hd = hd; this.ldo = ldo;
            int nq = B * H * Nq * hd, nk = B * H * Nk * hd, no = B * Nq * ldo;
            q = Check.randn(seed, nq, 1.0);
            k = Check.randn(seed + 1, nk, 1.0);
            v = Check.randn(seed + 2, nk, 1.0);
            outStart = Check.randn(seed + 3, no, 1.0);
            dout = Check.randn(seed + 4, no, 1.0);
            dq = Check.randn(seed + 5, nq, 0.1);
            dk = Check.randn(seed + 6, nk, 0.1);
            dv = Check.randn(seed + 7, nk, 0.1);
        }

        /**
         * Forward, then backward (from {@code outRef} and {@code lseRef} when given, else from the
         * forward's own) on {@code be}: out, lse, dq, dk, dv as floats.
         */
        float[][] run(Backend be, float[] outRef, float[] lseRef) {
            Tensor tq = bf16(be, q, B, H, Nq, hd), tk = bf16(be, k, B, H, Nk, hd), tv = bf16(be, v, B, H, Nk, hd);
            Tensor out = bf16(be, outStart, B * Nq, ldo), lse = be.allocate(DType.F32, B, H, Nq);
            be.attentionForward(out, lse, tq, tk, tv);
            float[] o = be.download(out), l = be.download(lse);
            if (outRef != null) {
                be.upload(out, outRef);
                be.upload(lse, lseRef);
            }
            Tensor tdq = bf16(be, dq, B, H, Nq, hd), tdk = bf16(be, dk, B, H, Nk, hd), tdv = bf16(be, dv, B, H, Nk, hd);
            be.attentionBackward(tdq, tdk, tdv, bf16(be, dout, B * Nq, ldo), out, lse, tq, tk, tv);
            return new float[][] {o, l, be.download(tdq), be.download(tdk), be.download(tdv)};
        }
    }

    static Tensor bf16(Backend be, float[] values, int... shape) {
        Tensor t = be.allocate(DType.BF16, shape);
        be.upload(t, values);
        return t;
    }

    /** Mixed element types are refused before any launch, naming the tensor and the fix. */
    @Test void refusesMixedElementTypes() {
        try (CudaBackend cuda = Gpu.oneOrSkip()) {
            Tensor q = cuda.allocate(DType.BF16, 1, 2, 4, 16), k = cuda.allocate(DType.BF16, 1, 2, 4, 16);
            Tensor v = cuda.allocate(DType.BF16, 1, 2, 4, 16), lse = cuda.allocate(DType.F32, 1, 2, 4);
            Tensor outF32 = cuda.allocate(DType.F32, 4, 32), out = cuda.allocate(DType.BF16, 4, 32);
            String m = assertThrows(IllegalArgumentException.class, () -> cuda.attentionForward(outF32, lse, q, k, v)).getMessage();
            assertTrue(m.contains("out is F32 but q is BF16") && m.contains("one element type"), m);
            Tensor lse16 = cuda.allocate(DType.BF16, 1, 2, 4);
            m = assertThrows(IllegalArgumentException.class, () -> cuda.attentionForward(out, lse16, q, k, v)).getMessage();
            assertTrue(m.contains("lse is BF16") && m.contains("allocate lse as F32"), m);
            Tensor dqF32 = cuda.allocate(DType.F32, 1, 2, 4, 16);
            m = assertThrows(IllegalArgumentException.class,
                    () -> cuda.attentionBackward(dqF32, k, v, out, out, lse, q, k, v)).getMessage();
            assertTrue(m.contains("dq is F32 but q is BF16"), m);
        }
    }
}
