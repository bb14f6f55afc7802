package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import vit22b.backend.Precision;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.model.Presets;

/**
 * NcuProbe's launches (run-all.sh's ncu stage profiles them on the GPU) at tiny sizes on the
 * emulated device, as a Hopper (gemm_bf16_wgmma) and not (gemm_bf16_mma): every argument passes
 * the kernels' checks and the attention output is finite and not all zero.
 */
class NcuProbeEmuTest {
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void probeLaunchesRunOnTheEmulatedDevice(boolean hopper) {
        if (!EmuLibrary.built()) Gpu.skip("the emulated device is not built (no g++ at build time)");
        try (CudaBackend be = CudaBackend.emulated(Precision.BF16, hopper)) {
            double s = NcuProbe.run(be, Presets.get("test-tiny"), 2, 1, 2, 16, 64);
            assertTrue(Double.isFinite(s) && s > 0, "attention output's sum of squares " + s);
        }
    }
}
