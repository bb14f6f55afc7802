package vit22b.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.GeluKind;
import vit22b.model.ModelConfig;
import vit22b.tensor.Tensor;

/**
 * The lane-math ops of one vit-s-fmnist block at batch 64 on the CPU: GELU forward and backward
 * over the MLP activations (T x M, both kinds; the exp of LaneMath in every lane) and the
 * LayerNorm backward over T x D. A tail of 3 elements past the last full vector ({@code odd}) checks
 * that the tail path does not slow the main loop.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PointwiseBench {
    @Param({"TANH", "EXACT"}) public GeluKind kind;

    private CpuBackend be;
    private Tensor h, gOut, dh, x, stats, scale, bias, nOut, dx, dscale, dbias, dn;

    @Setup public void setup() {
        ModelConfig c = BenchTensors.CONFIG;
        int t = BenchTensors.BATCH * c.tokens(), d = c.width(), m = c.mlp();
        be = new CpuBackend();
        long n = (long) t * m + 3;
        h = BenchTensors.random(be, 21, Math.toIntExact(n));
        gOut = BenchTensors.random(be, 22, Math.toIntExact(n));
        dh = be.allocate(Math.toIntExact(n));
        x = BenchTensors.random(be, 23, t, d);
        scale = BenchTensors.random(be, 24, d);
        bias = BenchTensors.random(be, 25, d);
        dn = BenchTensors.random(be, 26, t, d);
        stats = be.allocate(t, 2);
        nOut = be.allocate(t, d);
        dx = be.allocate(t, d);
        dscale = be.allocate(d);
        dbias = be.allocate(d);
        be.normForward(nOut, stats, x, scale, bias, true, ModelConfig.EPS);
    }

    @Benchmark public Tensor geluForward() {
        be.geluForward(dh, h, kind);
        return dh;
    }

    /** Accumulates into the same gradient every call (its growth does not change the work). */
    @Benchmark public Tensor geluBackward() {
        be.geluBackward(dh, gOut, h, kind);
        return dh;
    }

    @Benchmark public Tensor normBackward() {
        be.normBackward(dx, dscale, dbias, dn, x, scale, stats, true);
        return dx;
    }

    @TearDown public void tearDown() { be.close(); }
}
