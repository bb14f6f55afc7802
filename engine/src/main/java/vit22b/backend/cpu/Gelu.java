package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import vit22b.model.GeluKind;
import vit22b.tensor.Tensor;

/** GELU, tanh approximation or exact (erf), forward and backward; in Vector API lanes (tails padded). */
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

    /**
     * out[oo + j] = gelu(in[io + j] + bias[j]) for j < n; bias nullable. Full vectors, then the
     * tail through the same lane code ({@link Vec#loadTail}), so an element's result never
     * depends on where it falls.
     */
    static void rowForward(MemorySegment in, long io, MemorySegment bias, int n, GeluKind kind,
                           MemorySegment out, long oo) {
        int end = Vec.S.loopBound(n);
        for (int j = 0; j < end; j += Vec.L) {
            FloatVector x = Vec.load(in, io + j);
            if (bias != null) x = x.add(Vec.load(bias, j));
            Vec.store(value(x, kind), out, oo + j);
        }
        if (end < n) {
            FloatVector x = Vec.loadTail(in, io + end, n - end, 0f);
            if (bias != null) x = x.add(Vec.loadTail(bias, end, n - end, 0f));
            Vec.storeTail(value(x, kind), out, oo + end, n - end);
        }
    }

    /** din[dio + j] (= or +=) dout[go + j] * gelu'(in[io + j] + bias[j]); bias nullable; tail as in {@link #rowForward}. */
    static void rowBackward(MemorySegment dout, long go, MemorySegment in, long io, MemorySegment bias, int n,
                            GeluKind kind, MemorySegment din, long dio, boolean accumulate) {
        int end = Vec.S.loopBound(n);
        for (int j = 0; j < end; j += Vec.L) {
            FloatVector x = Vec.load(in, io + j);
            if (bias != null) x = x.add(Vec.load(bias, j));
            FloatVector v = Vec.load(dout, go + j).mul(grad(x, kind));
            if (accumulate) v = v.add(Vec.load(din, dio + j));
            Vec.store(v, din, dio + j);
        }
        if (end < n) {
            int left = n - end;
            FloatVector x = Vec.loadTail(in, io + end, left, 0f);
            if (bias != null) x = x.add(Vec.loadTail(bias, end, left, 0f));
            FloatVector v = Vec.loadTail(dout, go + end, left, 0f).mul(grad(x, kind));
            if (accumulate) v = v.add(Vec.loadTail(din, dio + end, left, 0f));
            Vec.storeTail(v, din, dio + end, left);
        }
    }

    private static FloatVector value(FloatVector x, GeluKind kind) {
        return kind == GeluKind.TANH ? tanhValue(x) : exactValue(x);
    }

    private static FloatVector grad(FloatVector x, GeluKind kind) {
        return kind == GeluKind.TANH ? tanhGrad(x) : exactGrad(x);
    }

    private static final float K0 = (float) SQRT_2_OVER_PI, KC = (float) C, K1 = (float) (SQRT_2_OVER_PI * C);

    /**
     * e^{-2u}, u = sqrt(2/pi) (x + C x^3), so that 0.5 (1 + tanh u) = 1 / (1 + e^{-2u}) without
     * the cancellation of 1 + tanh u in the left tail; capped where the GELU is 0 anyway.
     */
    private static FloatVector expMinus2u(FloatVector x) {
        return LaneMath.exp(x.mul(x).mul(-2 * K1).sub(2 * K0).mul(x).min(80f));
    }

    private static FloatVector tanhValue(FloatVector x) {
        return x.div(expMinus2u(x).add(1f));
    }

    /** s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 C x^2), s = 1 / (1 + e) and 1 - s = e s, e = e^{-2u}. */
    private static FloatVector tanhGrad(FloatVector x) {
        FloatVector e = expMinus2u(x);
        FloatVector s = FloatVector.broadcast(Vec.S, 1f).div(e.add(1f));
        return s.add(x.mul(2 * K0).mul(s).mul(e.mul(s)).mul(x.mul(x).mul(3 * KC).add(1f)));
    }

    private static FloatVector exactValue(FloatVector x) { return x.mul(cdf(x)); }

    private static FloatVector exactGrad(FloatVector x) {
        FloatVector pdf = LaneMath.exp(x.mul(x).mul(-0.5f)).mul((float) INV_SQRT_2PI);
        return cdf(x).add(x.mul(pdf));
    }

    /** Phi(x) = erfc(-x / sqrt 2) / 2 with the erfc of {@link #erfc}, in float lanes. */
    private static FloatVector cdf(FloatVector x) {
        FloatVector z = x.abs().mul((float) INV_SQRT_2);
        FloatVector t = z.mul(0.5f).add(1f);
        t = FloatVector.broadcast(Vec.S, 1f).div(t);
        FloatVector p = t.mul(0.17087277f).add(-0.82215223f);
        p = p.mul(t).add(1.48851587f);
        p = p.mul(t).add(-1.13520398f);
        p = p.mul(t).add(0.27886807f);
        p = p.mul(t).add(-0.18628806f);
        p = p.mul(t).add(0.09678418f);
        p = p.mul(t).add(0.37409196f);
        p = p.mul(t).add(1.00002368f);
        p = p.mul(t).add(-1.26551223f);
        FloatVector half = t.mul(LaneMath.exp(z.mul(z).neg().add(p))).mul(0.5f); // erfc(|x|/sqrt2)/2
        return half.neg().add(1f).blend(half, x.compare(VectorOperators.LT, 0f));
    }

}
