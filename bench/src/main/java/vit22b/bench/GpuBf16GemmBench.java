package vit22b.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import vit22b.backend.cuda.CudaBackend;
import vit22b.io.DType;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;

/**
 * The fused bf16 GEMMs of one ViT-L/16 block at 224 px (32 images: T = 6,272 tokens, D 1,024, MLP
 * 4,096) on GPU 0, through CudaBackend's native BF16 ops, each call synchronised so the time is
 * the GPU's: the in-projection (T x 7,168 x 1,024, NT), the out-projection with bias and the
 * residual in place (T x 1,024 x 5,120, NT), and its backward (dag += dout wOut, bf16, NN;
 * dwOut, dbOut += fp32 with the bias gradient fused, TN). FLOPs per call: 2 T N K per GEMM.
 * Needs a GPU: bench/run-jmh.sh leaves the Gpu* benchmarks out where nvidia-smi finds none.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class GpuBf16GemmBench {
    static final ModelConfig CONFIG = Presets.get("vit-l");
    static final int IMAGES = 32;

    private CudaBackend be;
    private Tensor y, wIn, pre, x, ag, wOut, bOut, dout, dag, dwOut, dbOut;

    @Setup public void setup() {
        be = new CudaBackend();   // refuses with the reason when there is no GPU or no kernels
        int T = IMAGES * CONFIG.tokens(), D = CONFIG.width(), M = CONFIG.mlp(), R = CONFIG.inProjRows();
        y = bf16(1, T, D);
        wIn = bf16(2, R, D);
        pre = be.allocate(DType.BF16, T, R);
        x = bf16(3, T, D);
        ag = bf16(4, T, D + M);
        wOut = bf16(5, D, D + M);
        bOut = bf16(6, D);
        dout = bf16(7, T, D);
        dag = bf16(8, T, D + M);
        dwOut = be.allocate(D, D + M);
        dbOut = be.allocate(D);
        be.synchronize();
    }

    private Tensor bf16(long seed, int... shape) {
        Tensor t = be.allocate(DType.BF16, shape);
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < a.length; i++) a[i] = (float) (2 * r.nextDouble() - 1);
        be.upload(t, a);
        return t;
    }

    @Benchmark public Tensor inProjection() {
        be.linearForward(pre, y, wIn, null);
        be.synchronize();
        return pre;
    }

    @Benchmark public Tensor outProjection() {
        be.outProjectionForward(x, x, ag, wOut, bOut);
        be.synchronize();
        return x;
    }

    @Benchmark public Tensor outProjectionBackward() {
        be.outProjectionBackward(dag, dwOut, dbOut, dout, ag, wOut);
        be.synchronize();
        return dwOut;
    }

    @TearDown public void tearDown() { be.close(); }
}
