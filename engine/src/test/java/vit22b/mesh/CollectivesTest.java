package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.BiConsumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.graph.Axis;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** Every collective against the naive result computed from all devices' inputs. */
class CollectivesTest {
    static final int N = 6;

    /** Input of rank r: fresh seeded random floats. */
    static float[] input(int r, int n) { return Check.randn(100 + r, n, 1.0); }

    /** Runs {@code body} on every device as one communication task and returns each device's out. */
    static float[][] run(Mesh m, int inSize, int outSize, BiConsumer<CpuDevice, Tensor[]> body) {
        CpuMesh cm = new CpuMesh(m);
        float[][] outs = new float[m.devices()][];
        cm.run(r -> {
            CpuDevice d = cm.device(r);
            Tensor in = d.backend().allocate(inSize), out = d.backend().allocate(outSize);
            d.backend().upload(in, input(r, inSize));
            TaskGraph g = new TaskGraph(true);
            g.comm("collective", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, 0), () -> {
                body.accept(d, new Tensor[]{in, out});
                outs[r] = d.backend().download(out);
            });
            return g;
        });
        return outs;
    }

    @ParameterizedTest
    @CsvSource({"1,1,MODEL", "1,4,MODEL", "2,2,MODEL", "2,2,DATA", "3,1,DATA", "2,3,MODEL"})
    void allGatherConcatenatesTheGroupInRingOrder(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        int p = m.size(a);
        float[][] outs = run(m, N, N * p, (d, io) -> d.comm().allGather(a, io[1], io[0]).await());
        for (int r = 0; r < m.devices(); r++) {
            float[] want = new float[N * p];
            int[] g = m.group(a, r);
            for (int i = 0; i < p; i++) System.arraycopy(input(g[i], N), 0, want, i * N, N);
            assertArrayEquals(want, outs[r], "rank " + r);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,1,MODEL", "1,4,MODEL", "2,2,MODEL", "2,2,DATA", "3,1,DATA", "2,3,MODEL"})
    void reduceScatterSumsOwnChunk(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        int p = m.size(a);
        float[][] outs = run(m, N * p, N, (d, io) -> d.comm().reduceScatter(a, io[1], io[0]).await());
        for (int r = 0; r < m.devices(); r++) {
            int me = m.index(a, r);
            double[] want = new double[N];
            for (int peer : m.group(a, r)) {
                float[] in = input(peer, N * p);
                for (int i = 0; i < N; i++) want[i] += in[me * N + i];
            }
            Check.assertClose("rank " + r, outs[r], want, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,4,MODEL", "2,2,DATA", "3,1,DATA"})
    void allReduceSumsEverything(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        int p = m.size(a);
        int n = N * p;
        CpuMesh cm = new CpuMesh(m);
        float[][] outs = new float[m.devices()][];
        cm.run(r -> {
            CpuDevice d = cm.device(r);
            Tensor x = d.backend().allocate(n), scratch = d.backend().allocate(n);
            d.backend().upload(x, input(r, n));
            TaskGraph g = new TaskGraph(true);
            g.comm("all-reduce", Cost.collective(Cost.Kind.ALL_REDUCE, a, n * 4.0), () -> {
                d.comm().allReduce(a, x, scratch).await();
                outs[r] = d.backend().download(x);
            });
            return g;
        });
        for (int r = 0; r < m.devices(); r++) {
            double[] want = new double[n];
            for (int peer : m.group(a, r)) {
                float[] in = input(peer, n);
                for (int i = 0; i < n; i++) want[i] += in[i];
            }
            Check.assertClose("rank " + r, outs[r], want, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,4,MODEL", "2,2,DATA", "1,2,MODEL", "3,1,DATA"})
    void shiftAndExchangeDeliverTheNeighboursData(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        float[][] shifted = run(m, N, N, (d, io) -> d.comm().shift(a, io[0], io[1]).await());
        CpuMesh cm = new CpuMesh(m);
        float[][] prev = new float[m.devices()][], next = new float[m.devices()][];
        cm.run(r -> {
            CpuDevice d = cm.device(r);
            Tensor s = d.backend().allocate(N), p = d.backend().allocate(N), q = d.backend().allocate(N);
            d.backend().upload(s, input(r, N));
            TaskGraph g = new TaskGraph(true);
            g.comm("exchange", Cost.collective(Cost.Kind.EXCHANGE, a, N * 4.0), () -> {
                d.comm().exchange(a, s, p, q).await();
                prev[r] = d.backend().download(p);
                next[r] = d.backend().download(q);
            });
            return g;
        });
        for (int r = 0; r < m.devices(); r++) {
            assertArrayEquals(input(m.neighbour(a, r, -1), N), shifted[r]);
            assertArrayEquals(input(m.neighbour(a, r, -1), N), prev[r]);
            assertArrayEquals(input(m.neighbour(a, r, +1), N), next[r]);
        }
    }

    @Test void aFailingTaskIsReportedAndDoesNotHangItsPeers() {
        Mesh m = new Mesh(1, 2);
        CpuMesh cm = new CpuMesh(m);
        var e = assertThrows(IllegalStateException.class, () -> cm.run(r -> {
            CpuDevice d = cm.device(r);
            Tensor x = d.backend().allocate(4), y = d.backend().allocate(r == 0 ? 4 : 5);
            TaskGraph g = new TaskGraph(true);
            g.comm("shift", Cost.collective(Cost.Kind.SHIFT, Axis.MODEL, 16), () -> d.comm().shift(Axis.MODEL, x, y).await());
            return g;
        }));
        assertTrue(e.getMessage().contains("device 1"), e.getMessage());
    }
}
