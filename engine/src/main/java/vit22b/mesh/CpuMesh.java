package vit22b.mesh;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Communicator;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;

/**
 * A mesh of CPU-thread devices in one JVM, each with its own memory and a
 * {@link RingCommunicator} over one {@link Fabric}. {@link #run} runs every rank's task graph
 * for real on the {@link GraphRunner}.
 */
public final class CpuMesh implements MeshDevices {
    private final Mesh mesh;
    private final Fabric fabric;
    private final List<CpuDevice> devices = new ArrayList<>();

    public CpuMesh(Mesh mesh) {
        this.mesh = mesh;
        this.fabric = new Fabric(mesh.devices());
        for (int r = 0; r < mesh.devices(); r++)
            devices.add(new CpuDevice(new CpuBackend(), new RingCommunicator(mesh, r, fabric.link(r))));
    }

    @Override public Mesh mesh() { return mesh; }

    public CpuDevice device(int rank) { return devices.get(rank); }

    @Override public CpuBackend backend(int rank) { return devices.get(rank).backend(); }

    @Override public Communicator comm(int rank) { return devices.get(rank).comm(); }

    /** Runs graph(rank) on every device and waits; the first failure of any task is rethrown. */
    public void run(IntFunction<TaskGraph> graphOf) { run(graphOf, null); }

    /** As {@link #run(IntFunction)}, recording every task in {@code trace} (nullable). */
    @Override public void run(IntFunction<TaskGraph> graphOf, Trace trace) {
        Map<Integer, TaskGraph> graphs = new LinkedHashMap<>();
        for (int r = 0; r < mesh.devices(); r++) graphs.put(r, graphOf.apply(r));
        GraphRunner.run(graphs, trace, fabric::abort);
    }

    @Override public void close() {
        for (CpuDevice d : devices) d.backend().close();
    }
}
