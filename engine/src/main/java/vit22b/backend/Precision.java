package vit22b.backend;

import java.util.Locale;

import vit22b.io.DType;

/**
 * The training precision: FP32 stores everything in float32; BF16 is the mixed-precision recipe
 * (DESIGN.md, "bf16 mixed precision"): bf16 activations and compute weights, float32 master
 * weights, moments, parameter gradients, statistics and accumulation.
 */
public enum Precision {
    FP32, BF16;

    /** The element type of activations and of the weights the ops read. */
    public DType compute() { return this == FP32 ? DType.F32 : DType.BF16; }

    /** "fp32" or "bf16" (any case). */
    public static Precision parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "fp32" -> FP32;
            case "bf16" -> BF16;
            default -> throw new IllegalArgumentException("unknown precision '" + s + "'; use fp32 or bf16");
        };
    }

    @Override public String toString() { return name().toLowerCase(Locale.ROOT); }
}
