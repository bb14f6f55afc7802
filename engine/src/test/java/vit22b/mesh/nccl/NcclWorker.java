package vit22b.mesh.nccl;

import java.time.Duration;
import java.util.Arrays;

import vit22b.backend.cuda.CudaBackend;
import vit22b.graph.Axis;
import vit22b.graph.Completion;
import vit22b.graph.Mesh;
import vit22b.mesh.MeshTraining;
import vit22b.mesh.Trace;
import vit22b.mesh.net.MeshWorker;
import vit22b.mesh.net.MultiProcessTest;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * One GPU rank of {@link NcclMultiProcessTest}'s job, in its own JVM: joins through the
 * environment (GPU LOCAL_RANK, NCCL ids through the rendezvous), checks every collective against
 * the naive float64 result (it knows every rank's seeded input), then trains
 * {@link MultiProcessTest#setup} and writes its results like {@link MeshWorker}. Exits 1 with
 * one line on the first mismatch. Usage: NcclWorker TxK OUT
 */
public final class NcclWorker {
    static final int N = 1000;   // floats per chunk: not a multiple of NCCL's internal slices
    static final long SEED = 20261130;

    public static void main(String[] args) throws Exception {
        Mesh mesh = Mesh.parse(args[0]);
        MeshTraining.Setup s = MultiProcessTest.setup();
        try (NcclGroup g = NcclGroup.join(mesh, System.getenv(), Duration.ofSeconds(60))) {
            System.out.println("rank " + g.env().rank() + " on " + g.backend().device().description() + ", NCCL " + Nccl.version());
            new NcclWorker(g).collectives();
            try (MeshTraining run = new MeshTraining(s, g.backend(), g.comm())) {
                run.runAlone(new Trace(), () -> g.abort("a task failed"));
                MeshWorker.writeResults(args[1], run, s);
            }
        } catch (RuntimeException | AssertionError e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    private final NcclGroup g;
    private final CudaBackend be;
    private final Mesh m;
    private final int rank;
    private long op;

    private NcclWorker(NcclGroup g) {
        this.g = g;
        this.be = g.backend();
        this.m = g.comm().mesh();
        this.rank = g.comm().rank();
    }

    void collectives() {
        for (Axis a : Axis.values()) {
            allGatherSeesQueuedKernels(a);
            reduceScatter(a);
            allReduce(a);
            shift(a);
            exchange(a);
            sendRecvWaitedOnTheComputeStream(a);
        }
    }

    /** The compute stream scales the input and the all-gather is issued at once: it must see the scaled values. */
    void allGatherSeesQueuedKernels(Axis a) {
        int p = m.size(a);
        float[][] in = inputs(N);
        Tensor x = upload(in[rank]), out = nan(N * p);
        be.scale(x, 2f);   // queued only
        g.comm().allGather(a, out, x).await();
        float[] want = new float[N * p];
        int[] grp = m.group(a, rank);
        for (int c = 0; c < p; c++)
            for (int i = 0; i < N; i++) want[c * N + i] = 2f * in[grp[c]][i];
        same("all-gather " + a, want, be.download(out));
    }

    void reduceScatter(Axis a) {
        int p = m.size(a), me = m.index(a, rank);
        float[][] in = inputs(N * p);
        Tensor x = upload(in[rank]), out = nan(N);
        g.comm().reduceScatter(a, out, x).await();
        double[] want = new double[N];
        for (int q : m.group(a, rank))
            for (int i = 0; i < N; i++) want[i] += in[q][me * N + i];
        Check.assertClose("reduce-scatter " + a + " on " + m + ", rank " + rank, be.download(out), want, 1e-6);
    }

    void allReduce(Axis a) {
        float[][] in = inputs(N);
        Tensor t = upload(in[rank]);
        g.comm().allReduce(a, t, null).await();
        double[] want = new double[N];
        for (int q : m.group(a, rank))
            for (int i = 0; i < N; i++) want[i] += in[q][i];
        Check.assertClose("all-reduce " + a + " on " + m + ", rank " + rank, be.download(t), want, 1e-6);
    }

    void shift(Axis a) {
        float[][] in = inputs(N);
        Tensor send = upload(in[rank]), recv = nan(N);
        g.comm().shift(a, send, recv).await();
        same("shift " + a, in[m.neighbour(a, rank, -1)], be.download(recv));
    }

    void exchange(Axis a) {
        float[][] in = inputs(N);
        Tensor send = upload(in[rank]), prev = nan(N), next = nan(N);
        g.comm().exchange(a, send, prev, next).await();
        same("exchange from the previous rank, " + a, in[m.neighbour(a, rank, -1)], be.download(prev));
        same("exchange from the next rank, " + a, in[m.neighbour(a, rank, +1)], be.download(next));
    }

    /** Separate send and receive (held until waited for, then one NCCL group), waited for by the compute stream, not the host. */
    void sendRecvWaitedOnTheComputeStream(Axis a) {
        float[][] in = inputs(N);
        Tensor send = upload(in[rank]), recv = nan(N);
        g.comm().send(a, 1, send);
        Completion got = g.comm().recv(a, -1, recv);
        ((NcclCommunicator.GpuCompletion) got).before(be.stream());
        be.scale(recv, 3f);   // on the compute stream, after the receive
        float[] want = in[m.neighbour(a, rank, -1)].clone();
        for (int i = 0; i < N; i++) want[i] *= 3f;
        same("send/recv " + a, want, be.download(recv));
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** Every rank's input of the next operation (the same on every rank). */
    float[][] inputs(int n) {
        op++;
        float[][] in = new float[m.devices()][];
        for (int r = 0; r < in.length; r++) in[r] = Check.randn(SEED * 1000 + op * 64 + r, n, 1.0);
        return in;
    }

    Tensor upload(float[] data) {
        Tensor t = be.allocate(data.length);
        be.upload(t, data);
        return t;
    }

    /** Filled with NaN so that an element the operation does not write fails the comparison. */
    Tensor nan(int n) {
        float[] v = new float[n];
        Arrays.fill(v, Float.NaN);
        return upload(v);
    }

    void same(String what, float[] want, float[] got) {
        if (!Arrays.equals(want, got)) {
            int i = Arrays.mismatch(want, got);
            throw new AssertionError(what + " on " + m + ", rank " + rank + ": element " + i + " is " + got[i] + ", expected " + want[i]);
        }
    }
}
