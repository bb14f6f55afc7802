package vit22b.mesh.device;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

import vit22b.backend.cuda.CudaBackend;
import vit22b.graph.Communicator;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.mesh.MeshDevices;
import vit22b.mesh.Trace;

/**
 * The t x k ranks of a mesh on ONE CUDA device (a GPU, or the emulated device): each rank has its
 * own {@link CudaBackend} (memory, compute stream) on the shared device, its own communication
 * stream and a {@link DeviceCommunicator}; {@link #run} executes every rank's task graph on the
 * streams ({@link StreamExecutor}). What runs is the multi-device program, transfers included,
 * so a single GPU shows whether copies overlap kernels and the step equals the unsharded one;
 * it is not faster than one rank (the ranks share the GPU).
 */
public final class DeviceMesh implements MeshDevices {
    private final Mesh mesh;
    private final DeviceRuntime device;
    private final Mailbox box;
    private final List<StreamExecutor.Rank> ranks = new ArrayList<>();

    /** The ranks of {@code mesh} on {@code device}, which the mesh owns from now on (closed with it, or at once if this fails). */
    public DeviceMesh(Mesh mesh, DeviceRuntime device) {
        this.mesh = mesh;
        this.device = device;
        this.box = new Mailbox(mesh.devices());
        try {
            for (int r = 0; r < mesh.devices(); r++) {
                CudaBackend be = CudaBackend.sharing(device);
                DeviceStream comm;
                try {
                    comm = device.createStream();
                } catch (RuntimeException e) {
                    be.close();
                    throw e;
                }
                ranks.add(new StreamExecutor.Rank(r, be, comm, new DeviceCommunicator(mesh, r, be, box)));
            }
        } catch (RuntimeException | Error e) {
            try {
                close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override public Mesh mesh() { return mesh; }

    public DeviceRuntime device() { return device; }

    @Override public CudaBackend backend(int rank) { return ranks.get(rank).backend(); }

    @Override public Communicator comm(int rank) { return ranks.get(rank).comm(); }

    /** Runs graph(rank) for every rank (built here, in rank order) and waits for the device; the first failure is rethrown. */
    @Override public void run(IntFunction<TaskGraph> graphOf, Trace trace) {
        Map<StreamExecutor.Rank, TaskGraph> graphs = new LinkedHashMap<>();
        for (StreamExecutor.Rank r : ranks) graphs.put(r, graphOf.apply(r.rank()));
        StreamExecutor.run(graphs, trace, box::abort);
    }

    /** Closes every rank (waiting for its streams), then the device. */
    @Override public void close() {
        RuntimeException first = null;
        for (StreamExecutor.Rank r : ranks) {
            for (AutoCloseable c : new AutoCloseable[]{r.comm(), r.commStream(), r.backend()})
                try {
                    c.close();
                } catch (Exception e) {
                    if (first == null) first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                    else first.addSuppressed(e);
                }
        }
        ranks.clear();
        try {
            device.close();
        } catch (RuntimeException e) {
            if (first == null) first = e;
            else first.addSuppressed(e);
        }
        if (first != null) throw first;
    }
}
