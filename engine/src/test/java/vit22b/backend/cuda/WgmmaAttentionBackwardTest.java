package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.testing.Check;

/**
 * The Hopper attention backward (attention_wgmma_bwd.cu) through CudaBackend.attentionBackward on
 * the emulated device opened as a Hopper, against Bf16Rounding(CpuBackend) on the same bf16 inputs
 * (Bf16AttentionTest's problem: dq, dk, dv accumulated onto random values, both sides fed the
 * reference's out and lse; seed printed). Nq and Nk cross the kernel's 64-query tiles and 128-key
 * blocks; B*H > 1; out/dout rows padded past H*hd. {@link CudaBackend#hopperAttentionBackwards}
 * says which kernel ran: the Hopper one at hd 64 and 128, the mma.sync flash backward at hd 256.
 * Bound: Bf16AttentionTest's for the flash kernels (P and dS rounded to bf16 as operands: 1e-2 in
 * norm), which the C++ test (test_attention_wgmma_bwd.cpp) backs with element-wise float64 bounds.
 */
class WgmmaAttentionBackwardTest {
    @ParameterizedTest(name = "B={0} H={1} Nq={2} Nk={3} hd={4}")
    @CsvSource({"1, 2, 70, 133, 64", "2, 1, 65, 40, 128", "1, 1, 9, 5, 256"})
    void matchesTheCpuReference(int B, int H, int Nq, int Nk, int hd) {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        long seed = System.nanoTime();
        System.err.printf("WgmmaAttentionBackwardTest B=%d H=%d Nq=%d Nk=%d hd=%d seed %d%n", B, H, Nq, Nk, hd, seed);
        Bf16AttentionTest.Problem p = new Bf16AttentionTest.Problem(B, H, Nq, Nk, hd, H * hd + 8, seed);
        float[][] ref;
        try (Bf16Rounding cpu = new Bf16Rounding(new CpuBackend())) {
            ref = p.run(cpu, null, null);
        }
        float[][] got;
        try (CudaBackend hopper = CudaBackend.emulated(Precision.BF16, true)) {
            got = p.run(hopper, ref[0], ref[1]);
            assertEquals(hd <= 128 ? 1 : 0, hopper.hopperAttentionBackwards(), "backwards on attention_wgmma_bwd.cu");
        }
        String[] names = {"dq", "dk", "dv"};
        for (int i = 0; i < names.length; i++) {
            double e = Check.relErr(got[i + 2], Check.toDouble(ref[i + 2]));
            System.err.printf("  %-3s rel %.2e (bound 1e-2)%n", names[i], e);
            assertTrue(e < 1e-2, names[i] + ": relative error " + e + " >= 1e-2");
        }
    }
}
