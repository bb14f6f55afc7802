package vit22b.mesh;

import java.util.function.IntFunction;

import vit22b.backend.Backend;
import vit22b.graph.Communicator;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;

/**
 * The devices of a mesh that live in this process, each with its own backend (memory) and
 * communicator, and the executor that runs their task graphs: CPU threads ({@link CpuMesh}) or
 * every rank on one CUDA device ({@link vit22b.mesh.device.DeviceMesh}). What drives a sharded
 * model ({@link MeshTraining}, {@link MeshLearner}) is written once against this.
 */
public interface MeshDevices extends AutoCloseable {

    Mesh mesh();

    Backend backend(int rank);

    Communicator comm(int rank);

    /** Runs graph(rank) for every rank and waits; records every task in {@code trace} (nullable); the first failure is rethrown. */
    void run(IntFunction<TaskGraph> graphOf, Trace trace);

    @Override void close();
}
