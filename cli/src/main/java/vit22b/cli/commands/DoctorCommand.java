package vit22b.cli.commands;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import vit22b.backend.cuda.CudaDiagnostics;
import vit22b.backend.cuda.CudaDiagnostics.Finding;
import vit22b.cli.options.JsonOption;

/** Checks what the GPU path needs and says, for each missing piece, how to fix it. */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "Check Java, the CUDA driver, GPUs, the kernels fatbin, cuBLASLt and NCCL; print fixes.")
public final class DoctorCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin JsonOption json;

    @Override public Integer call() {
        List<Finding> findings = CudaDiagnostics.run();
        long missing = findings.stream().filter(f -> !f.ok()).count();
        String summary = missing == 0 ? "everything the GPU path needs is here"
                : missing + " piece(s) missing: the cpu backend works; the cuda backend needs the fixes above";
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) {
            ObjectNode o = JsonOption.object().put("missing", missing).put("summary", summary);
            var arr = o.putArray("findings");
            for (Finding f : findings)
                arr.addObject().put("ok", f.ok()).put("what", f.what()).put("detail", f.detail()).put("fix", f.ok() ? null : f.fix());
            JsonOption.print(out, o);
            return 0;
        }
        for (Finding f : findings) {
            out.printf(Locale.ROOT, "%-4s %-12s %s%n", f.ok() ? "ok" : "MISS", f.what(), f.detail());
            if (!f.ok()) out.printf(Locale.ROOT, "     %-12s fix: %s%n", "", f.fix());
        }
        out.println(summary);
        out.flush();
        return 0;
    }
}
