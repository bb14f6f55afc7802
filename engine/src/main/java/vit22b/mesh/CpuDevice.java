package vit22b.mesh;

import java.lang.foreign.MemorySegment;

import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/**
 * One CPU-thread device of a mesh: its rank, its own backend (its own memory: tensors are never
 * shared between devices, only copied over the fabric) and the collectives it takes part in.
 */
public final class CpuDevice {
    private final Mesh mesh;
    private final int rank;
    private final Fabric fabric;
    private final CpuBackend backend = new CpuBackend();

    CpuDevice(Mesh mesh, int rank, Fabric fabric) {
        this.mesh = mesh;
        this.rank = rank;
        this.fabric = fabric;
    }

    public Mesh mesh() { return mesh; }
    public int rank() { return rank; }
    public CpuBackend backend() { return backend; }

    /** This device's position along {@code a}. */
    public int index(Axis a) { return mesh.index(a, rank); }

    /** The host memory of {@code t}, for this package's copies and reductions. */
    static MemorySegment seg(Tensor t) { return HostStorage.segmentOf(t); }

    void send(Axis a, int steps, MemorySegment src) { fabric.send(rank, mesh.neighbour(a, rank, steps), src); }

    void recv(Axis a, int steps, MemorySegment dst) { fabric.recv(rank, mesh.neighbour(a, rank, steps), dst); }
}
