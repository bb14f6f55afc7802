package vit22b.mesh;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Axis;
import vit22b.graph.CollectiveMatmul;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Both collective matmuls, with and without overlap, one ring (odd rows, or p <= 2) and two
 * (even rows), against a naive float64 matmul of the unsharded operands.
 */
class CollectiveMatmulTest {
    static final int K = 8, NL = 5;   // contraction, local output columns

    @ParameterizedTest
    @CsvSource({"1,1,true,3", "1,2,true,3", "1,4,true,3", "2,2,true,3", "1,3,true,3", "1,4,false,3", "2,2,false,3",
            "1,4,true,4", "1,3,true,2", "2,4,true,6"})
    void allGatherMatmulEqualsTheUnshardedProduct(int t, int k, boolean overlap, int R) {
        Mesh m = new Mesh(t, k);
        CpuMesh cm = new CpuMesh(m);
        float[][] y = new float[m.devices()][];
        cm.run(r -> {
            CpuDevice d = cm.device(r);
            CpuBackend b = d.backend();
            Tensor x = b.allocate(R, K), w = b.allocate(NL, K), out = b.allocate(k * R, NL);
            b.upload(x, Check.randn(10 + r, R * K, 1));
            b.upload(w, Check.randn(50 + r, NL * K, 1));
            var bind = CollectiveMatmul.matmul(d.backend(), d.comm(), x, b.allocate(k * R, K), w, out);
            TaskGraph g = new TaskGraph(overlap);
            Tensor o = out;
            CollectiveMatmul.allGatherMatmul(g, "ag", m.model(), Axis.MODEL, new CollectiveMatmul.Shape(R, K, NL, 4), null, bind);
            g.compute("read", Cost.compute(0, 0), () -> y[r] = b.download(o), g.tasks().getLast());
            return g;
        });
        for (int r = 0; r < m.devices(); r++) {
            int[] group = m.group(Axis.MODEL, r);
            double[] want = new double[k * R * NL];
            float[] w = Check.randn(50 + r, NL * K, 1);
            for (int c = 0; c < k; c++) {
                float[] x = Check.randn(10 + group[c], R * K, 1);
                for (int i = 0; i < R; i++)
                    for (int j = 0; j < NL; j++) {
                        double s = 0;
                        for (int q = 0; q < K; q++) s += (double) x[i * K + q] * w[j * K + q];
                        want[(c * R + i) * NL + j] = s;
                    }
            }
            Check.assertClose("rank " + r, y[r], want, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,1,true,3", "1,2,true,3", "1,4,true,3", "2,2,true,3", "1,3,true,3", "1,4,false,3", "2,2,false,3",
            "1,4,true,4", "1,3,true,2", "2,4,true,6"})
    void matmulReduceScatterEqualsTheUnshardedProduct(int t, int k, boolean overlap, int R) {
        Mesh m = new Mesh(t, k);
        CpuMesh cm = new CpuMesh(m);
        float[][] y = new float[m.devices()][];
        cm.run(r -> {
            CpuDevice d = cm.device(r);
            CpuBackend b = d.backend();
            Tensor a = b.allocate(k * R, K), w = b.allocate(NL, K), out = b.allocate(R, NL);
            b.upload(a, Check.randn(10 + r, k * R * K, 1));
            b.upload(w, Check.randn(50 + r, NL * K, 1));
            var bind = CollectiveMatmul.matmul(d.backend(), d.comm(), a, w, out, b.allocate(R, NL), b.allocate(R, NL), b.allocate(R, NL),
                    b.allocate(k * R, NL));
            TaskGraph g = new TaskGraph(overlap);
            CollectiveMatmul.matmulReduceScatter(g, "rs", m.model(), Axis.MODEL, new CollectiveMatmul.Shape(R, K, NL, 4), null, bind);
            g.compute("read", Cost.compute(0, 0), () -> y[r] = b.download(out), g.tasks().getLast());
            return g;
        });
        for (int r = 0; r < m.devices(); r++) {
            int me = m.modelIndex(r);
            double[] want = new double[R * NL];
            for (int peer : m.group(Axis.MODEL, r)) {
                float[] a = Check.randn(10 + peer, k * R * K, 1), w = Check.randn(50 + peer, NL * K, 1);
                for (int i = 0; i < R; i++)
                    for (int j = 0; j < NL; j++)
                        for (int q = 0; q < K; q++)
                            want[i * NL + j] += (double) a[(me * R + i) * K + q] * w[j * K + q];
            }
            Check.assertClose("rank " + r, y[r], want, 1e-6);
        }
    }
}
