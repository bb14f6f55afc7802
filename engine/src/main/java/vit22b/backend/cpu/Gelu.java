package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import vit22b.model.GeluKind;
import vit22b.tensor.Tensor;

/** GELU, tanh approximation or exact (erf), forward and backward. */
final class Gelu {
    private Gelu() {}

    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
    private static final double INV_SQRT_2 = 1 / Math.sqrt(2);
    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
    private static final double C = 0.044715;

    static void forward(Tensor out, Tensor in, GeluKind kind) {
        Args.size(out, in.size(), "gelu: out");
        MemorySegment o = seg(out), x = seg(in);
        Parallel.range(Math.toIntExact(in.size()), 30, (c, from, to) -> rowForward(x, from, null, to - from, kind, o, from));
    }

    /** din += dout * gelu'(in). */
    static void backward(Tensor din, Tensor dout, Tensor in, GeluKind kind) {
        Args.size(din, in.size(), "gelu backward: din");
        Args.size(dout, in.size(), "gelu backward: dout");
        MemorySegment d = seg(din), g = seg(dout), x = seg(in);
        Parallel.range(Math.toIntExact(in.size()), 40,
                (c, from, to) -> rowBackward(g, from, x, from, null, to - from, kind, d, from, true));
    }

    /** out[oo + j] = gelu(in[io + j] + bias[j]) for j < n; bias nullable. */
    static void rowForward(MemorySegment in, long io, MemorySegment bias, int n, GeluKind kind,
                           MemorySegment out, long oo) {
        for (int j = 0; j < n; j++) {
            float x = in.getAtIndex(F32, io + j);
            if (bias != null) x += bias.getAtIndex(F32, j);
            out.setAtIndex(F32, oo + j, value(x, kind));
        }
    }

    /** din[dio + j] (= or +=) dout[go + j] * gelu'(in[io + j] + bias[j]); bias nullable. */
    static void rowBackward(MemorySegment dout, long go, MemorySegment in, long io, MemorySegment bias, int n,
                            GeluKind kind, MemorySegment din, long dio, boolean accumulate) {
        for (int j = 0; j < n; j++) {
            float x = in.getAtIndex(F32, io + j);
            if (bias != null) x += bias.getAtIndex(F32, j);
            float v = dout.getAtIndex(F32, go + j) * grad(x, kind);
            if (accumulate) v += din.getAtIndex(F32, dio + j);
            din.setAtIndex(F32, dio + j, v);
        }
    }

    static float value(float x, GeluKind kind) {
        if (kind == GeluKind.TANH) return (float) (0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + C * x * x * x))));
        return (float) (x * cdf(x));
    }

    static float grad(float x, GeluKind kind) {
        if (kind == GeluKind.TANH) {
            double t = Math.tanh(SQRT_2_OVER_PI * (x + C * x * x * x));
            return (float) (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * C * x * x));
        }
        return (float) (cdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x));
    }

    /** Standard normal CDF through erfc, so that its left tail keeps full relative precision. */
    static double cdf(double x) {
        return x >= 0 ? 1 - 0.5 * erfc(x * INV_SQRT_2) : 0.5 * erfc(-x * INV_SQRT_2);
    }

    /**
     * erfc(z) for z >= 0 with relative error below 1.2e-7 everywhere: the Chebyshev-fitted
     * t * exp(-z^2 + P(t)), t = 1 / (1 + z/2), of Numerical Recipes (2nd ed., section 6.2).
     */
    static double erfc(double z) {
        double t = 1 / (1 + 0.5 * z);
        double p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
                + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
        return t * Math.exp(-z * z + p);
    }
}
