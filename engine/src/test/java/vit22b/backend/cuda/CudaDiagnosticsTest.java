package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Runs anywhere: the diagnostics never throw, and every missing piece comes with a fix. */
class CudaDiagnosticsTest {
    @Test void reportsEveryPieceAndAFixForWhatIsMissing() {
        List<CudaDiagnostics.Finding> f = CudaDiagnostics.run();
        for (String what : new String[] {"java", "cuda driver", "kernels", "cuda-emu", "cublasLt", "nccl"})
            assertTrue(f.stream().anyMatch(x -> x.what().equals(what)), "no finding for " + what + ": " + f);
        for (CudaDiagnostics.Finding x : f)
            assertTrue(x.ok() || !x.fix().isBlank(), "missing piece without a fix: " + x);
    }
}
