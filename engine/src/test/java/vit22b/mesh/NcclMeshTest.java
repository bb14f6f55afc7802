package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.Gpu;
import vit22b.graph.Axis;
import vit22b.graph.Mesh;
import vit22b.kernels.CudaException;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * NCCL collectives on the GPUs present against the naive CPU result of every rank's fresh
 * random input: 1x1 on one GPU, also 1x2 and 2x1 on two, 2x2 on four. Moves must be exact,
 * sums within 1e-6 relative of the float64 sum. Skips without a GPU, kernels or NCCL.
 */
class NcclMeshTest {
    static final int N = 1000;   // floats per chunk: not a multiple of NCCL's internal slices
    static int gpus = -1;
    long seed = System.nanoTime();

    /** The GPU count, or skips (no GPU, no kernels, no libnccl.so.2) saying why. */
    static int gpus() {
        if (gpus < 0) {
            int n = Gpu.countOrSkip();
            try {
                NcclMesh.ncclVersion();
            } catch (CudaException e) {
                Gpu.skip(e.getMessage());
            }
            gpus = n;
        }
        return gpus;
    }

    /** Only the meshes that fit: on a GPU host a skipped test means a broken GPU path. */
    static Stream<Mesh> meshes() {
        int n = gpus();
        return Stream.of(new Mesh(1, 1), new Mesh(1, 2), new Mesh(2, 1), new Mesh(2, 2)).filter(m -> m.devices() <= n);
    }

    @ParameterizedTest @MethodSource("meshes")
    void collectivesMatchNaive(Mesh m) {
        try (NcclMesh nm = NcclMesh.open(m)) {
            for (Axis a : Axis.values()) {
                allGather(nm, a);
                reduceScatter(nm, a);
                allReduce(nm, a);
                shift(nm, a);
                exchange(nm, a);
            }
        }
    }

    @Test
    void refusesMoreDevicesThanGpus() {
        int n = gpus();
        var e = assertThrows(IllegalArgumentException.class, () -> NcclMesh.open(new Mesh(1, n + 1)));
        assertTrue(e.getMessage().contains("needs " + (n + 1) + " GPUs") && e.getMessage().contains("only " + n), e.getMessage());
    }

    // ---- one collective each, on every rank -------------------------------------------------

    void allGather(NcclMesh nm, Axis a) {
        Mesh m = nm.mesh();
        int p = m.size(a);
        float[][] in = inputs(m, N);
        Tensor[] ins = upload(nm, in), outs = alloc(nm, N * p);
        nm.allGather(a, outs, ins);
        for (int r = 0; r < m.devices(); r++) {
            float[] want = new float[N * p];
            int[] g = m.group(a, r);
            for (int c = 0; c < p; c++) System.arraycopy(in[g[c]], 0, want, c * N, N);
            assertArrayEquals(want, download(nm, r, outs[r]), "all-gather " + a + " on " + m + ", rank " + r);
        }
        free(nm, ins, outs);
    }

    void reduceScatter(NcclMesh nm, Axis a) {
        Mesh m = nm.mesh();
        int p = m.size(a);
        float[][] in = inputs(m, N * p);
        Tensor[] ins = upload(nm, in), outs = alloc(nm, N);
        nm.reduceScatter(a, outs, ins);
        for (int r = 0; r < m.devices(); r++) {
            double[] want = new double[N];
            int me = m.index(a, r);
            for (int q : m.group(a, r))
                for (int i = 0; i < N; i++) want[i] += in[q][me * N + i];
            Check.assertClose("reduce-scatter " + a + " on " + m + ", rank " + r, download(nm, r, outs[r]), want, 1e-6);
        }
        free(nm, ins, outs);
    }

    void allReduce(NcclMesh nm, Axis a) {
        Mesh m = nm.mesh();
        float[][] in = inputs(m, N);
        Tensor[] t = upload(nm, in);
        nm.allReduce(a, t);
        for (int r = 0; r < m.devices(); r++) {
            double[] want = new double[N];
            for (int q : m.group(a, r))
                for (int i = 0; i < N; i++) want[i] += in[q][i];
            Check.assertClose("all-reduce " + a + " on " + m + ", rank " + r, download(nm, r, t[r]), want, 1e-6);
        }
        free(nm, t);
    }

    void shift(NcclMesh nm, Axis a) {
        Mesh m = nm.mesh();
        float[][] in = inputs(m, N);
        Tensor[] send = upload(nm, in), recv = alloc(nm, N);
        nm.shift(a, send, recv);
        for (int r = 0; r < m.devices(); r++)
            assertArrayEquals(in[m.neighbour(a, r, -1)], download(nm, r, recv[r]), "shift " + a + " on " + m + ", rank " + r);
        free(nm, send, recv);
    }

    void exchange(NcclMesh nm, Axis a) {
        Mesh m = nm.mesh();
        float[][] in = inputs(m, N);
        Tensor[] send = upload(nm, in), prev = alloc(nm, N), next = alloc(nm, N);
        nm.exchange(a, send, prev, next);
        for (int r = 0; r < m.devices(); r++) {
            assertArrayEquals(in[m.neighbour(a, r, -1)], download(nm, r, prev[r]), "exchange from previous, " + a + " on " + m + ", rank " + r);
            assertArrayEquals(in[m.neighbour(a, r, +1)], download(nm, r, next[r]), "exchange from next, " + a + " on " + m + ", rank " + r);
        }
        free(nm, send, prev, next);
    }

    // ---- helpers ------------------------------------------------------------------------------

    float[][] inputs(Mesh m, int n) {
        float[][] in = new float[m.devices()][];
        for (int r = 0; r < in.length; r++) in[r] = Check.randn(seed++, n, 1.0);
        return in;
    }

    static Tensor[] upload(NcclMesh nm, float[][] data) {
        Tensor[] t = new Tensor[data.length];
        for (int r = 0; r < t.length; r++) {
            CudaBackend g = nm.gpu(r);
            t[r] = g.allocate(data[r].length);
            g.upload(t[r], data[r]);
        }
        return t;
    }

    /** Filled with NaN so that an element the collective does not write fails the comparison. */
    static Tensor[] alloc(NcclMesh nm, int n) {
        float[] nan = new float[n];
        java.util.Arrays.fill(nan, Float.NaN);
        Tensor[] t = new Tensor[nm.mesh().devices()];
        for (int r = 0; r < t.length; r++) {
            CudaBackend g = nm.gpu(r);
            t[r] = g.allocate(n);
            g.upload(t[r], nan);
        }
        return t;
    }

    static float[] download(NcclMesh nm, int r, Tensor t) { return nm.gpu(r).download(t); }

    static void free(NcclMesh nm, Tensor[]... sets) {
        nm.synchronize();
        for (Tensor[] s : sets)
            for (int r = 0; r < s.length; r++) nm.gpu(r).free(s[r]);
    }
}
