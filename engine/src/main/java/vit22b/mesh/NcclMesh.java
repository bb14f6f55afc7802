package vit22b.mesh;

import static org.bytedeco.cuda.global.nccl.*;

import java.util.function.IntConsumer;

import jcuda.driver.JCudaDriver;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.DeviceStorage;
import vit22b.graph.Axis;
import vit22b.graph.Mesh;
import vit22b.kernels.Cuda;
import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.tensor.Tensor;

/**
 * The GPU executor of the mesh's collectives: NCCL (Bytedeco's CUDA 13 preset), one rank per
 * GPU in this process, GPU ordinal = mesh rank (so a model group, contiguous in rank, stays
 * inside one NVLink node). Each rank has its own {@link CudaBackend}; every collective runs on
 * that rank's own communication stream, ordered after the compute stream's earlier work and
 * before its later work by events, so the compute stream sees the same order as if NCCL ran on
 * it while communication can overlap other streams. Queued only (call {@link #synchronize}
 * or download to wait).
 * One communicator per axis group, made with ncclCommInitAll: NCCL rank = position on the
 * axis, so chunk c of a gathered/scattered buffer belongs to position c, as in
 * {@link RingCommunicator}. Methods take one tensor per mesh rank (index = rank): one host thread
 * drives every GPU, which NCCL requires to be a single group call (ncclGroupStart/End).
 */
public final class NcclMesh implements AutoCloseable {
    private final Mesh mesh;
    private final CudaBackend[] gpus;
    private final DeviceStream[] comm;             // each rank's communication stream
    private final DeviceEvent[] computed, communicated;
    private final CUstream_st[] streams;          // comm[r] as NCCL takes it
    private final ncclComm[][] comms;   // [axis][rank]

    private NcclMesh(Mesh mesh, CudaBackend[] gpus) {
        this.mesh = mesh;
        this.gpus = gpus;
        this.comm = new DeviceStream[gpus.length];
        this.computed = new DeviceEvent[gpus.length];
        this.communicated = new DeviceEvent[gpus.length];
        this.streams = new CUstream_st[gpus.length];
        for (int r = 0; r < gpus.length; r++) {
            DeviceRuntime d = gpus[r].device();
            comm[r] = d.createStream();
            computed[r] = d.createEvent();
            communicated[r] = d.createEvent();
            streams[r] = new CUstream_st(at(comm[r].raw()));
        }
        this.comms = new ncclComm[Axis.values().length][gpus.length];
        for (Axis a : Axis.values())
            for (int r = 0; r < gpus.length; r++)
                if (mesh.index(a, r) == 0) initGroup(a, mesh.group(a, r));
    }

    /**
     * Opens GPU r for mesh rank r and the communicators of both axes. Fails with the fix when
     * NCCL does not load or when fewer GPUs are visible than the mesh has devices.
     */
    public static NcclMesh open(Mesh mesh) {
        int have = gpuCount();
        if (have < mesh.devices())
            throw new IllegalArgumentException("mesh " + mesh + " needs " + mesh.devices() + " GPUs but only " + have
                    + " are visible; use a mesh of at most " + have + " devices (a single GPU is a 1x1 mesh)"
                    + " or check CUDA_VISIBLE_DEVICES");
        int version = ncclVersion();
        if (version < 20700)
            throw new CudaException("NCCL " + version + " is too old: send/recv needs NCCL >= 2.7; install a newer libnccl.so.2");
        CudaBackend[] gpus = new CudaBackend[mesh.devices()];
        try {
            for (int r = 0; r < gpus.length; r++) gpus[r] = new CudaBackend(r, CudaBackend.GemmPath.KERNELS);
            return new NcclMesh(mesh, gpus);
        } catch (RuntimeException e) {
            for (CudaBackend g : gpus) if (g != null) g.close();
            throw e;
        }
    }

    /** The number of GPUs the CUDA driver sees (a CudaException with the fix when there is none). */
    public static int gpuCount() {
        Cuda.init();
        int[] n = new int[1];
        Cuda.check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
        return n[0];
    }

    /** NCCL's version code (e.g. 22805 for 2.28.5), or a CudaException with the fix when libnccl.so.2 does not load. */
    public static int ncclVersion() {
        int[] v = new int[1];
        try {
            check(ncclGetVersion(v), "ncclGetVersion");
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new CudaException("cannot load NCCL (" + e.getMessage() + "): put libnccl.so.2 on LD_LIBRARY_PATH, e.g. "
                    + "`pip install nvidia-nccl-cu13` and add its nvidia/nccl/lib directory, or use the Docker image");
        }
        return v[0];
    }

    public Mesh mesh() { return mesh; }

    /** Makes rank r's GPU current on this thread and returns its backend (allocate, upload, download there). */
    public CudaBackend gpu(int rank) {
        gpus[rank].makeCurrent();
        return gpus[rank];
    }

    /** out[r] (p * n) = concatenation over r's group along a of every in (n). */
    public void allGather(Axis a, Tensor[] out, Tensor[] in) {
        int p = mesh.size(a);
        perRank("all-gather", out, in);
        for (int r = 0; r < gpus.length; r++) requireSize("all-gather", out[r], in[r].size() * p);
        group("ncclAllGather", r -> check(ncclAllGather(ptr(in[r]), ptr(out[r]), in[r].size(), ncclFloat32,
                comms[a.ordinal()][r], streams[r]), "ncclAllGather on rank " + r));
    }

    /** out[r] (n) = sum over r's group along a of chunk (r's position) of every in (p * n). */
    public void reduceScatter(Axis a, Tensor[] out, Tensor[] in) {
        int p = mesh.size(a);
        perRank("reduce-scatter", out, in);
        for (int r = 0; r < gpus.length; r++) requireSize("reduce-scatter", in[r], out[r].size() * p);
        group("ncclReduceScatter", r -> check(ncclReduceScatter(ptr(in[r]), ptr(out[r]), out[r].size(), ncclFloat32,
                ncclSum, comms[a.ordinal()][r], streams[r]), "ncclReduceScatter on rank " + r));
    }

    /** t[r] = sum of t over r's group along a, in place (NCCL needs no scratch or padding). */
    public void allReduce(Axis a, Tensor[] t) {
        perRank("all-reduce", t, t);
        for (int r = 0; r < gpus.length; r++) requireSize("all-reduce", t[r], t[0].size());
        group("ncclAllReduce", r -> check(ncclAllReduce(ptr(t[r]), ptr(t[r]), t[r].size(), ncclFloat32, ncclSum,
                comms[a.ordinal()][r], streams[r]), "ncclAllReduce on rank " + r));
    }

    /** Each rank sends send[r] to the next position on a's ring and receives the previous one's into recv[r]. */
    public void shift(Axis a, Tensor[] send, Tensor[] recv) {
        perRank("shift", recv, send);
        for (int r = 0; r < gpus.length; r++) requireSize("shift", recv[r], send[r].size());
        if (mesh.size(a) == 1) {   // the ring is one device: its neighbour is itself
            for (int r = 0; r < gpus.length; r++) gpu(r).copy(recv[r], send[r]);
            return;
        }
        group("shift", r -> {
            sendTo(a, r, +1, send[r]);
            recvFrom(a, r, -1, recv[r]);
        });
    }

    /**
     * Both directions at once: each rank sends send[r] to both neighbours on a's ring; fromPrev[r]
     * receives the previous position's, fromNext[r] the next one's. With a ring of 2 both peers
     * are one device; NCCL matches a pair's sends and receives in the order issued, and both
     * messages carry the same tensor, so the order cannot mix them up.
     */
    public void exchange(Axis a, Tensor[] send, Tensor[] fromPrev, Tensor[] fromNext) {
        perRank("exchange", fromPrev, send);
        perRank("exchange", fromNext, send);
        for (int r = 0; r < gpus.length; r++) {
            requireSize("exchange", fromPrev[r], send[r].size());
            requireSize("exchange", fromNext[r], send[r].size());
        }
        if (mesh.size(a) == 1) {
            for (int r = 0; r < gpus.length; r++) {
                gpu(r).copy(fromPrev[r], send[r]);
                gpus[r].copy(fromNext[r], send[r]);
            }
            return;
        }
        group("exchange", r -> {
            sendTo(a, r, +1, send[r]);
            sendTo(a, r, -1, send[r]);
            recvFrom(a, r, -1, fromPrev[r]);
            recvFrom(a, r, +1, fromNext[r]);
        });
    }

    /** Waits for every rank's streams. */
    public void synchronize() {
        for (int r = 0; r < gpus.length; r++) {
            gpu(r).synchronize();
            comm[r].synchronize();
        }
    }

    @Override public void close() {
        synchronize();
        for (ncclComm[] byRank : comms)
            for (ncclComm c : byRank) if (c != null) check(ncclCommDestroy(c), "ncclCommDestroy");
        for (int r = 0; r < gpus.length; r++) {
            gpu(r);
            computed[r].close();
            communicated[r].close();
            comm[r].close();
            gpus[r].close();
        }
    }

    // ---- internals ------------------------------------------------------------------------

    /** One communicator per rank of {@code group} (ranks in ring order); NCCL rank i = position i. */
    private void initGroup(Axis a, int[] group) {
        PointerPointer<ncclComm> handles = new PointerPointer<>(group.length);
        check(ncclCommInitAll(handles, group.length, group.clone()), "ncclCommInitAll " + a + " group of " + group.length);
        for (int i = 0; i < group.length; i++) comms[a.ordinal()][group[i]] = new ncclComm(handles.get(i));
        handles.close();
    }

    private void sendTo(Axis a, int rank, int steps, Tensor t) {
        int peer = Math.floorMod(mesh.index(a, rank) + steps, mesh.size(a));
        check(ncclSend(ptr(t), t.size(), ncclFloat32, peer, comms[a.ordinal()][rank], streams[rank]),
                "ncclSend from rank " + rank);
    }

    private void recvFrom(Axis a, int rank, int steps, Tensor t) {
        int peer = Math.floorMod(mesh.index(a, rank) + steps, mesh.size(a));
        check(ncclRecv(ptr(t), t.size(), ncclFloat32, peer, comms[a.ordinal()][rank], streams[rank]),
                "ncclRecv on rank " + rank);
    }

    /**
     * Issues body(r) for every rank as one NCCL group (one thread drives all GPUs) on the
     * communication streams: each waits for its compute stream's work so far, and the compute
     * stream's later work waits for the collective.
     */
    private void group(String what, IntConsumer body) {
        for (int r = 0; r < gpus.length; r++) {
            computed[r].record(gpu(r).stream());
            comm[r].waitFor(computed[r]);
        }
        check(ncclGroupStart(), "ncclGroupStart (" + what + ")");
        try {
            for (int r = 0; r < gpus.length; r++) body.accept(r);
        } finally {
            check(ncclGroupEnd(), "ncclGroupEnd (" + what + ")");
        }
        for (int r = 0; r < gpus.length; r++) {
            communicated[r].record(comm[r]);
            gpu(r).stream().waitFor(communicated[r]);
        }
    }

    private void perRank(String what, Tensor[] x, Tensor[] y) {
        if (x.length != gpus.length || y.length != gpus.length)
            throw new IllegalArgumentException(what + ": need one tensor per mesh rank (" + gpus.length + " for mesh "
                    + mesh + "), got " + x.length + " and " + y.length);
    }

    private static void requireSize(String what, Tensor t, long n) {
        if (t.size() != n)
            throw new IllegalArgumentException(what + ": tensor " + t + " has " + t.size() + " floats, expected " + n);
    }

    /** The device address of a tensor's first element, as a JavaCPP pointer. */
    private static Pointer ptr(Tensor t) {
        if (!(t.storage() instanceof DeviceStorage d))
            throw new IllegalArgumentException("tensor " + t + " is not in GPU memory; allocate it with NcclMesh.gpu(rank)");
        return at(d.address() + t.offset() * t.dtype().size);
    }

    private static Pointer at(long address) {
        return new Pointer() { { this.address = address; } };
    }

    private static void check(int status, String what) {
        if (status != 0)
            throw new CudaException(what + " failed: NCCL error " + status + " (" + ncclGetErrorString(status).getString() + ")");
    }
}
