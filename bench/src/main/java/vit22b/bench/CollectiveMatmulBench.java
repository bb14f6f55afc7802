package vit22b.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Axis;
import vit22b.graph.CollectiveMatmul;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.mesh.CpuMesh;
import vit22b.tensor.Tensor;

/**
 * The all-gather collective matmul on a 1 x k mesh of CPU-thread devices, with overlap (k chunk
 * matmuls while chunks travel the ring) and without (all-gather, then one matmul), in one run.
 * Shapes keep the transfer comparable to the chunk matmul, as for the in-projection at scale.
 * Run: {@code java -cp 'bench/target/classes:bench/target/lib/*' org.openjdk.jmh.Main CollectiveMatmulBench}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
public class CollectiveMatmulBench {

    @Param({"true", "false"})
    public boolean overlap;

    @Param({"2"})
    public int devices;

    /** Rows per device, contraction and output columns per device. */
    @Param({"1024"}) public int rows;
    @Param({"1024"}) public int inner;
    @Param({"128"}) public int cols;

    private CpuMesh mesh;
    private TaskGraph[] graphs;

    @Setup(Level.Trial)
    public void setup() {
        Mesh m = new Mesh(1, devices);
        mesh = new CpuMesh(m);
        graphs = new TaskGraph[devices];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(1);
        for (int r = 0; r < devices; r++) {
            var d = mesh.device(r);
            CpuBackend b = d.backend();
            Tensor x = b.allocate(rows, inner), w = b.allocate(cols, inner);
            b.upload(x, random(rnd, rows * inner));
            b.upload(w, random(rnd, cols * inner));
            var bind = CollectiveMatmul.matmul(d.backend(), d.comm(), x, b.allocate(devices * rows, inner), w, b.allocate(devices * rows, cols));
            graphs[r] = new TaskGraph(overlap);
            CollectiveMatmul.allGatherMatmul(graphs[r], "in-proj", m.model(), Axis.MODEL,
                    new CollectiveMatmul.Shape(rows, inner, cols, Float.BYTES), null, bind);
        }
    }

    @Benchmark
    public void allGatherMatmul() {
        mesh.run(r -> graphs[r]);
    }

    private static float[] random(java.util.SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }
}
