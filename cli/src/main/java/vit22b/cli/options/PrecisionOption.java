package vit22b.cli.options;

import java.io.PrintWriter;

import picocli.CommandLine.Option;
import vit22b.backend.Backend;
import vit22b.backend.Precision;

/** {@code --precision}: fp32, or the bf16 mixed-precision recipe (train, bench, eval, probe, fewshot, predict). */
public final class PrecisionOption {
    @Option(names = "--precision", paramLabel = "fp32|bf16",
            description = "bf16: bf16 activations and compute weights with fp32 master weights, Adam moments, parameter "
                    + "gradients, statistics and accumulation (DESIGN.md); on cuda and cuda-emu(-hopper) bf16 storage and "
                    + "our tensor-core kernels, on cpu the exact-rounding reference. fp32: everything float32. "
                    + "Default: bf16 on cuda and cuda-emu(-hopper) (one device), fp32 on cpu and on a mesh.")
    String precision;

    /** The precision given, or the default for {@code backend} (bf16 on one CUDA device, else fp32). */
    public Precision value(BackendOption backend, boolean mesh) {
        if (precision != null) return Precision.parse(precision);
        return !mesh && !backend.backend.equalsIgnoreCase("cpu") ? Precision.BF16 : Precision.FP32;
    }

    /** Opens {@code backend} (one device) in this precision; says which to {@code log}. */
    public Backend open(BackendOption backend, PrintWriter log) { return backend.open(value(backend, false), log); }
}
