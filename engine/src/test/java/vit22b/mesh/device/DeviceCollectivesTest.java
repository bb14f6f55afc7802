package vit22b.mesh.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiFunction;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.cuda.CudaBackend;
import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Completion;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.kernels.emu.EmulatedRuntime;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * The single-device communicator on the emulated device, whose streams run lazily (work that no
 * event orders runs out of order, and fresh memory holds NaN): every collective against a
 * float64 reference computed on the host from every rank's random input (seed printed), on
 * meshes 1x2, 2x1 and 2x2 along both axes. Each rank's input is produced on its compute
 * stream by a compute task (scaled by 2 in place) and the collective runs in a communication
 * task that depends on it, and the results are read on the communication stream (the
 * emulator runs a stream's work when someone waits for it), so the result is right only if the
 * executor's cross-queue event wait and the communicator's send/receive events order the
 * streams; {@link #aMissingEventWaitIsCaught} drops the dependency and gets stale data.
 */
class DeviceCollectivesTest {
    static final int N = 6;
    static final long SEED = System.nanoTime() & 0xffff;

    static { System.out.println("DeviceCollectivesTest seed " + SEED); }

    /** Rank r's input before the compute task doubles it. */
    static float[] input(int r, int n) { return Check.randn(SEED * 131 + r, n, 1.0); }

    static DeviceMesh open(Mesh m) {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        return new DeviceMesh(m, EmulatedRuntime.open());
    }

    /** What a test's communication task does on one rank: the collective on (in, out, extra), returning its completion. */
    interface Op { Completion apply(Communicator c, Tensor[] io); }

    /**
     * On every rank: in (inSize floats, rank's input) doubled by a compute task, then {@code op} in
     * a communication task depending on it (or not, with {@code ordered} false), then the
     * tensors read back. Returns per rank the downloaded io (io[0], the doubled input, first).
     */
    static float[][][] run(Mesh m, int inSize, int[] outSizes, boolean ordered, Op op) {
        try (DeviceMesh dm = open(m)) {
            float[][][] got = new float[m.devices()][][];
            dm.run(r -> {
                CudaBackend be = dm.backend(r);
                Tensor[] io = new Tensor[1 + outSizes.length];
                io[0] = be.allocate(inSize);
                for (int i = 0; i < outSizes.length; i++) io[1 + i] = be.allocate(outSizes[i]);
                be.upload(io[0], input(r, inSize));
                TaskGraph g = new TaskGraph(true);
                TaskGraph.Task produce = g.compute("double", Cost.compute(0, 0), () -> be.scale(io[0], 2f));
                TaskGraph.Task comm = g.comm("collective", Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, 0),
                        () -> op.apply(dm.comm(r), io).await(), ordered ? produce : null);
                // Read on the communication stream: draining it first runs the doubling only if a wait orders it.
                g.comm("read", Cost.compute(0, 0), () -> {
                    got[r] = new float[io.length][];
                    for (int i = 0; i < io.length; i++) got[r][i] = be.download(io[i]);
                }, comm);
                return g;
            }, null);
            return got;
        }
    }

    static double[] doubled(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = 2.0 * x[i];
        return d;
    }

    static void assertExact(String what, double[] want, float[] got) {
        float[] w = new float[want.length];
        for (int i = 0; i < w.length; i++) w[i] = (float) want[i];
        assertArrayEquals(w, got, what);
    }

    @ParameterizedTest
    @CsvSource({"1,2,MODEL", "1,2,DATA", "2,1,DATA", "2,1,MODEL", "2,2,MODEL", "2,2,DATA"})
    void allGatherConcatenatesTheGroupInRingOrder(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        int p = m.size(a);
        float[][][] got = run(m, N, new int[]{N * p}, true, (c, io) -> c.allGather(a, io[1], io[0]));
        for (int r = 0; r < m.devices(); r++) {
            double[] want = new double[N * p];
            int[] g = m.group(a, r);
            for (int i = 0; i < p; i++) System.arraycopy(doubled(input(g[i], N)), 0, want, i * N, N);
            assertExact("all-gather on rank " + r, want, got[r][1]);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,2,MODEL", "2,1,DATA", "2,1,MODEL", "2,2,MODEL", "2,2,DATA"})
    void reduceScatterSumsOwnChunk(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        int p = m.size(a);
        float[][][] got = run(m, N * p, new int[]{N}, true, (c, io) -> c.reduceScatter(a, io[1], io[0]));
        for (int r = 0; r < m.devices(); r++) {
            int me = m.index(a, r);
            double[] want = new double[N];
            for (int peer : m.group(a, r)) {
                double[] in = doubled(input(peer, N * p));
                for (int i = 0; i < N; i++) want[i] += in[me * N + i];
            }
            Check.assertClose("reduce-scatter on rank " + r, got[r][1], want, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,2,MODEL", "2,1,DATA", "2,2,MODEL", "2,2,DATA"})
    void allReduceSumsEverything(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        int p = m.size(a), n = N * p;
        // In place on the doubled input io[0]; io[1] is its scratch.
        float[][][] got = run(m, n, new int[]{n}, true, (c, io) -> c.allReduce(a, io[0], io[1]));
        for (int r = 0; r < m.devices(); r++) {
            double[] want = new double[n];
            for (int peer : m.group(a, r)) {
                double[] in = doubled(input(peer, n));
                for (int i = 0; i < n; i++) want[i] += in[i];
            }
            Check.assertClose("all-reduce on rank " + r, got[r][0], want, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,2,MODEL", "2,1,DATA", "2,2,MODEL", "2,2,DATA", "1,1,MODEL"})
    void shiftExchangeAndSendRecvDeliverTheNeighboursData(int t, int k, Axis a) {
        Mesh m = new Mesh(t, k);
        float[][][] got = run(m, N, new int[]{N, N, N, N, N}, true, (c, io) -> {
            c.shift(a, io[0], io[1]);
            c.exchange(a, io[0], io[2], io[3]);
            c.send(a, +1, io[0]);
            c.send(a, -1, io[0]);
            c.recv(a, -1, io[4]);
            return c.recv(a, +1, io[5]);
        });
        for (int r = 0; r < m.devices(); r++) {
            double[] prev = doubled(input(m.neighbour(a, r, -1), N)), next = doubled(input(m.neighbour(a, r, +1), N));
            assertExact("shift on rank " + r, prev, got[r][1]);
            assertExact("exchange from previous on rank " + r, prev, got[r][2]);
            assertExact("exchange from next on rank " + r, next, got[r][3]);
            assertExact("recv from previous on rank " + r, prev, got[r][4]);
            assertExact("recv from next on rank " + r, next, got[r][5]);
        }
    }

    /**
     * The communication task without its dependency on the compute task that produced its input:
     * the executor queues no event wait between the two streams, and the emulator, which runs
     * unordered streams out of issue order, hands the peers the input before it was doubled.
     */
    @Test void aMissingEventWaitIsCaught() {
        Mesh m = new Mesh(1, 2);
        float[][][] got = run(m, N, new int[]{N * 2}, false, (c, io) -> c.allGather(Axis.MODEL, io[1], io[0]));
        List<String> wrong = new ArrayList<>();
        for (int r = 0; r < m.devices(); r++) {
            float[] want = new float[N * 2];
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < N; j++) want[i * N + j] = 2 * input(i, N)[j];
            if (!Arrays.equals(want, got[r][1])) wrong.add("rank " + r);
        }
        System.out.println("without the event wait, wrong results on " + wrong);
        assertFalse(wrong.isEmpty(), "the emulated device did not catch the missing event wait");
    }

    @Test void collectivesIssuedInDifferentOrdersFailOnEveryRankWithoutHanging() {
        Mesh m = new Mesh(1, 2);
        try (DeviceMesh dm = open(m)) {
            var e = assertThrows(IllegalStateException.class, () -> dm.run(r -> {
                CudaBackend be = dm.backend(r);
                Tensor x = be.allocate(r == 0 ? 4 : 5), y = be.allocate(4);
                TaskGraph g = new TaskGraph(true);
                g.comm("send+recv", Cost.collective(Cost.Kind.SHIFT, Axis.MODEL, 16), () -> {
                    dm.comm(r).send(Axis.MODEL, +1, x);
                    dm.comm(r).recv(Axis.MODEL, -1, y).await();   // rank 1 waits for rank 0 to read what it sent
                });
                return g;
            }, null));
            assertTrue(e.getMessage().contains("rank 0 expected 4 floats from rank 1 but got 5"), e.getMessage());
        }
    }
}
