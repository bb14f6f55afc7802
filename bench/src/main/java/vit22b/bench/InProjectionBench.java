package vit22b.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.Shard;
import vit22b.tensor.Tensor;

/**
 * The fused in-projection (GEMM to [MLP | q | k | v], GELU, QK-norm, head split) of one
 * vit-s-fmnist block at batch 64, forward and backward, on the CPU backend.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class InProjectionBench {
    private CpuBackend be;
    private Tensor y, wIn, bMlp, qScale, kScale, pre, ag, q, k, v, qkStats;
    private Tensor dag, dq, dk, dv, dpre, dy, dwIn, dbMlp, dqScale, dkScale;

    @Setup public void setup() {
        ModelConfig c = BenchTensors.CONFIG;
        int b = BenchTensors.BATCH, t = b * c.tokens(), d = c.width(), m = c.mlp(), h = c.heads(), n = c.tokens(), hd = c.headDim();
        be = new CpuBackend();
        long s = 1;
        y = BenchTensors.random(be, s++, t, d);
        wIn = BenchTensors.random(be, s++, c.inProjRows(), d);
        bMlp = BenchTensors.random(be, s++, m);
        qScale = BenchTensors.random(be, s++, hd);
        kScale = BenchTensors.random(be, s++, hd);
        pre = be.allocate(t, c.inProjRows());
        ag = be.allocate(t, c.outProjCols());
        q = be.allocate(b, h, n, hd);
        k = be.allocate(b, h, n, hd);
        v = be.allocate(b, h, n, hd);
        qkStats = be.allocate(2, b, h, n, 2);
        dag = BenchTensors.random(be, s++, t, c.outProjCols());
        dq = BenchTensors.random(be, s++, b, h, n, hd);
        dk = BenchTensors.random(be, s++, b, h, n, hd);
        dv = BenchTensors.random(be, s++, b, h, n, hd);
        dpre = be.allocate(t, c.inProjRows());
        dy = be.allocate(t, d);
        dwIn = be.allocate(c.inProjRows(), d);
        dbMlp = be.allocate(m);
        dqScale = be.allocate(hd);
        dkScale = be.allocate(hd);
        forward();
    }

    @Benchmark public Tensor forward() {
        ModelConfig c = BenchTensors.CONFIG;
        be.linearForward(pre, y, wIn, null);
        be.inProjectionEpilogueForward(Shard.whole(c, BenchTensors.BATCH).inProj(), pre, bMlp, qScale, kScale, ag, q, k, v,
                qkStats, c.gelu(), c.norm() == NormKind.LAYER);
        return q;
    }

    /** Accumulates into the same gradients every call (their growth does not change the work). */
    @Benchmark public Tensor backward() {
        ModelConfig c = BenchTensors.CONFIG;
        be.inProjectionEpilogueBackward(Shard.whole(c, BenchTensors.BATCH).inProj(), dag, dq, dk, dv, pre, bMlp, qScale,
                kScale, qkStats, dpre, dbMlp, dqScale, dkScale, c.gelu(), c.norm() == NormKind.LAYER);
        be.linearBackward(dy, dwIn, null, dpre, y, wIn);
        return dy;
    }

    @TearDown public void tearDown() { be.close(); }
}
