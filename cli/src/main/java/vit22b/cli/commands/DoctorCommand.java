package vit22b.cli.commands;

import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import vit22b.backend.cuda.CudaDiagnostics;
import vit22b.backend.cuda.CudaDiagnostics.Finding;

/** Checks what the GPU path needs and says, for each missing piece, how to fix it. */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "Check Java, the CUDA driver, GPUs, the kernels fatbin, cuBLASLt and NCCL; print fixes.")
public final class DoctorCommand implements Callable<Integer> {
    @Override public Integer call() {
        List<Finding> findings = CudaDiagnostics.run();
        int missing = 0;
        for (Finding f : findings) {
            System.out.printf("%-4s %-12s %s%n", f.ok() ? "ok" : "MISS", f.what(), f.detail());
            if (!f.ok()) {
                System.out.printf("     %-12s fix: %s%n", "", f.fix());
                missing++;
            }
        }
        System.out.println(missing == 0 ? "everything the GPU path needs is here"
                : missing + " piece(s) missing: the cpu backend works; the cuda backend needs the fixes above");
        return 0;
    }
}
