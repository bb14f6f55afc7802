package vit22b.mesh.nccl;

import java.time.Duration;
import java.util.Map;

import vit22b.backend.cuda.CudaBackend;
import vit22b.graph.Mesh;
import vit22b.mesh.net.LaunchEnv;
import vit22b.mesh.net.Rendezvous;

/**
 * This process as one GPU rank of a mesh spanning processes and hosts, launched like a PyTorch
 * job (torchrun-style or Slurm variables, {@link LaunchEnv}): it opens GPU {@link #gpuOrdinal},
 * meets the other ranks at the TCP rendezvous on MASTER_ADDR:MASTER_PORT, where rank 0 hands
 * out the NCCL unique ids of every axis group ({@link NcclIds}), and joins its two NCCL
 * communicators. Mesh rank = launcher rank. Owns the backend and the communicator.
 */
public final class NcclGroup implements AutoCloseable {
    private final LaunchEnv env;
    private final int gpu;
    private final CudaBackend backend;
    private final NcclCommunicator comm;

    private NcclGroup(LaunchEnv env, int gpu, CudaBackend backend, NcclCommunicator comm) {
        this.env = env;
        this.gpu = gpu;
        this.backend = backend;
        this.comm = comm;
    }

    /**
     * The GPU of a process with local rank {@code localRank} among {@code visible} GPUs: GPU
     * LOCAL_RANK, as torchrun's processes each take, or GPU 0 when the launcher gave the process
     * exactly one (Slurm's --gpus-per-task=1 sets CUDA_VISIBLE_DEVICES per task).
     */
    public static int gpuOrdinal(int localRank, int visible) {
        if (visible <= 0)
            throw new IllegalArgumentException("no GPU is visible to this process: --backend cuda needs one GPU per rank "
                    + "(check CUDA_VISIBLE_DEVICES and the job's GPU request, e.g. --gpus-per-node)");
        if (localRank < visible) return localRank;
        if (visible == 1) return 0;
        throw new IllegalArgumentException("LOCAL_RANK " + localRank + " but only " + visible + " GPUs are visible on this host: "
                + "start at most " + visible + " processes per host (torchrun --nproc-per-node, srun --ntasks-per-node)");
    }

    /** Joins the job described by {@code environment} (e.g. System.getenv()) as GPU rank RANK of {@code mesh}. */
    public static NcclGroup join(Mesh mesh, Map<String, String> environment, Duration timeout) {
        return join(mesh, LaunchEnv.from(environment), timeout);
    }

    public static NcclGroup join(Mesh mesh, LaunchEnv env, Duration timeout) {
        env.checkMesh(mesh);
        Nccl.version();   // fails with the fix before this rank makes others wait for it
        int gpu = gpuOrdinal(env.localRank(), Nccl.visibleGpus());
        CudaBackend be = new CudaBackend(gpu, CudaBackend.GemmPath.KERNELS);
        try {
            byte[] ids = env.rank() == 0 ? NcclIds.create(mesh, Nccl::newId) : new byte[0];
            // NCCL finds its peers itself: the rendezvous carries only rank 0's ids (no data port).
            Rendezvous.Result met = Rendezvous.meet(env, 0, ids, timeout);
            return new NcclGroup(env, gpu, be, new NcclCommunicator(mesh, env.rank(), be, met.payload(), timeout));
        } catch (RuntimeException | LinkageError e) {
            try {
                be.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    public LaunchEnv env() { return env; }

    /** The GPU ordinal this rank runs on (among the visible ones). */
    public int gpu() { return gpu; }

    public CudaBackend backend() { return backend; }

    public NcclCommunicator comm() { return comm; }

    /** Aborts the communicators (a failing rank stops its NCCL work; its peers' NCCL then fails or times out). */
    public void abort(String why) { comm.abort(why); }

    @Override public void close() {
        try {
            comm.close();
        } finally {
            backend.close();
        }
    }
}
