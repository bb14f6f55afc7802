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
import vit22b.tensor.Tensor;

/** Softmax attention of one vit-s-fmnist block at batch 64 (6 heads, 49 tokens, hd 64), forward and backward. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class AttentionBench {
    private CpuBackend be;
    private Tensor q, k, v, out, lse, dout, dq, dk, dv;

    @Setup public void setup() {
        ModelConfig c = BenchTensors.CONFIG;
        int b = BenchTensors.BATCH, h = c.heads(), n = c.tokens(), hd = c.headDim();
        be = new CpuBackend();
        q = BenchTensors.random(be, 11, b, h, n, hd);
        k = BenchTensors.random(be, 12, b, h, n, hd);
        v = BenchTensors.random(be, 13, b, h, n, hd);
        dout = BenchTensors.random(be, 14, b * n, c.width());
        out = be.allocate(b * n, c.width());
        lse = be.allocate(b, h, n);
        dq = be.allocate(b, h, n, hd);
        dk = be.allocate(b, h, n, hd);
        dv = be.allocate(b, h, n, hd);
        forward();
    }

    @Benchmark public Tensor forward() {
        be.attentionForward(out, lse, q, k, v);
        return out;
    }

    @Benchmark public Tensor backward() {
        be.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v);
        return dq;
    }

    @TearDown public void tearDown() { be.close(); }
}
