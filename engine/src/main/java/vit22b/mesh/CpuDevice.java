package vit22b.mesh;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Communicator;
import vit22b.graph.Mesh;

/**
 * One CPU device of a mesh: its own backend (its own memory: tensors are never shared between
 * devices, only copied over the wires) and its communicator.
 */
public record CpuDevice(CpuBackend backend, Communicator comm) {
    public Mesh mesh() { return comm.mesh(); }
    public int rank() { return comm.rank(); }
}
