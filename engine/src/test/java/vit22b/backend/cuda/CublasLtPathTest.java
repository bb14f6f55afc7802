package vit22b.backend.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.NormKind;

/**
 * The backend with its GEMMs through cuBLASLt (every transpose form, the stand-alone epilogue,
 * the in-place residual) gives the CPU's training pass within 1e-3, like our kernels do.
 */
class CublasLtPathTest {
    static CudaBackend gpu;
    static Backend cpu;

    @BeforeAll static void open() {
        gpu = Gpu.gpuOrSkip(CudaBackend.GemmPath.CUBLASLT);   // cuBLASLt does not run on the emulated device
        cpu = new CpuBackend();
    }

    @AfterAll static void close() {
        if (gpu != null) gpu.close();
        if (cpu != null) cpu.close();
    }

    @ParameterizedTest
    @CsvSource({"64, 2, 4, 32, 4, RMS, TANH, SIGMOID, 3", "48, 1, 3, 16, 2, LAYER, EXACT, SOFTMAX, 2"})
    void trainingPassMatchesCpu(int width, int depth, int heads, int image, int patch, NormKind norm, GeluKind gelu,
                                LossKind loss, int batch) {
        CudaStepTest.checkPass(java.util.List.of(gpu), cpu, width, depth, heads, image, patch, norm, gelu, loss, batch);
    }
}
