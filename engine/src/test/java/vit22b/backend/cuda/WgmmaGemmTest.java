package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.backend.Precision;
import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm.Form;

/**
 * gemm_bf16_wgmma through Kernels.gemmBf16Wgmma (tensor maps from the backend's cache) in
 * each form with its training-step epilogue (NT: GELU forward into columns, bf16; NN: GELU backward,
 * bf16; TN: fp32 with the bias gradient) against a float64 GEMM of the same bf16 inputs, element by
 * element, with MmaGemmBench's bound. 133 x 300 x 200 crosses a block row (128) and column (256)
 * and ends K in a partial 64-wide tile after three full ones; 300 x 300 x 72 has three tile rows,
 * so the last pair of the clusters of 2 (tile rows 2 and 3) has its second CTA past M, and four
 * pairs on the emulated device's two clusters (each runs two, its ring carrying over). N > 128 in
 * both: each CTA's multicast half of B is read by both. Runs on the emulated device as a Hopper,
 * and on GPU 0 when it is one. Fresh random inputs; seed printed.
 */
class WgmmaGemmTest {
    @Test void everyFormMatchesFloat64() {
        long seed = System.nanoTime();
        System.out.println("WgmmaGemmTest seed " + seed);
        List<CudaBackend> devices = Gpu.hoppersOrSkip(Precision.FP32);
        try {
            for (CudaBackend be : devices) {
                // the persistent grid's size: cuOccupancyMaxActiveClusters on a GPU (66 if every GPC of a
                // 132-SM H200 has an even count free), the emulator's model (4 SMs / 2) here
                int clusters = be.device().maxActiveClusters("gemm_bf16_wgmma", Kernels.WGMMA_CLUSTER, Kernels.WGMMA_THREADS,
                        Kernels.WGMMA_SMEM_BYTES);
                System.out.println("gemm_bf16_wgmma on " + be.device().description() + ": " + clusters + " clusters of "
                        + Kernels.WGMMA_CLUSTER + " at once");
                assertTrue(clusters >= 1, "no cluster of gemm_bf16_wgmma fits " + be.device().description());
                for (int[] s : new int[][] {{133, 300, 200}, {300, 300, 72}})
                    for (Form f : Form.values())
                        assertEquals(0, MmaGemmBench.check(be, "gemm_bf16_wgmma", (o, e) -> be.kernels().gemmBf16Wgmma(be.tensorMaps(), o, e),
                                f, new SplittableRandom(seed + f.ordinal()), s[0], s[1], s[2]),
                                "gemm_bf16_wgmma " + f + " " + s[0] + "x" + s[1] + "x" + s[2] + " on " + be.device().description()
                                        + ", seed " + seed);
            }
        } finally {
            devices.forEach(CudaBackend::close);
        }
    }
}
