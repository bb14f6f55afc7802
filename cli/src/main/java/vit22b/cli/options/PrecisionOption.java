package vit22b.cli.options;

import java.io.PrintWriter;

import picocli.CommandLine.Option;
import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;

/** {@code --precision}: fp32, or the bf16 mixed-precision recipe (train, bench, eval, probe, fewshot, predict). */
public final class PrecisionOption {
    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|bf16",
            description = "fp32 (default), or bf16: bf16 activations and compute weights with fp32 master weights, "
                    + "Adam moments, parameter gradients, statistics and accumulation (DESIGN.md). On cpu every bf16 value is "
                    + "rounded exactly where the GPU path rounds it (the reference); on cuda and cuda-emu the linear layers' "
                    + "GEMMs run on the tensor cores (bf16 operands, fp32 accumulation) while storage and the other ops are "
                    + "still float32 holding bf16-rounded values. bf16 is planned as cuda's default once its kernels store bf16.")
    String precision;

    public Precision value() { return Precision.parse(precision); }

    /** Opens {@code backend} for this precision (bf16: the rounding reference around it); says which to {@code log}. */
    public Backend open(BackendOption backend, PrintWriter log) {
        Precision p = value();
        Backend be = backend.open(log);
        if (p == Precision.FP32) return be;
        log.println("precision: bf16 (activations and compute weights rounded to bf16; fp32 masters, moments, "
                + "parameter gradients and accumulation)");
        return new Bf16Rounding(be);
    }
}
