package vit22b.cli.options;

import java.io.PrintWriter;

import picocli.CommandLine.Option;
import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;

/** {@code --precision}: fp32, or the bf16 mixed-precision recipe (train, bench, eval). */
public final class PrecisionOption {
    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|bf16",
            description = "fp32 (default), or bf16: bf16 activations and compute weights with fp32 master weights, "
                    + "Adam moments, parameter gradients, statistics and accumulation (DESIGN.md). bf16 runs on the "
                    + "CPU reference (every bf16 value rounded exactly as the GPU path will store it); it will become "
                    + "the default on cuda once the bf16 GPU kernels exist, until then cuda runs fp32 only.")
    String precision;

    public Precision value() { return Precision.parse(precision); }

    /** Opens {@code backend} for this precision (bf16: the reference around the CPU backend); says which to {@code log}. */
    public Backend open(BackendOption backend, PrintWriter log) {
        Precision p = value();
        if (p == Precision.BF16 && !backend.backend.equalsIgnoreCase("cpu"))
            throw new IllegalArgumentException("--precision bf16 runs on the CPU reference only until the bf16 GPU "
                    + "kernels exist; use --backend cpu, or --precision fp32 on " + backend.backend);
        Backend be = backend.open(log);
        if (p == Precision.FP32) return be;
        log.println("precision: bf16 (activations and compute weights rounded to bf16; fp32 masters, moments, "
                + "parameter gradients and accumulation)");
        return new Bf16Rounding(be);
    }
}
