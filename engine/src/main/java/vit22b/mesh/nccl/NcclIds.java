package vit22b.mesh.nccl;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.function.Supplier;

import vit22b.graph.Axis;
import vit22b.graph.Mesh;

/**
 * The NCCL unique ids of a mesh's communicators as rank 0 sends them through the rendezvous:
 * rank 0's mesh (two ints, so that a rank started with another --mesh is refused before NCCL
 * would hang on mismatched groups), then one id per axis group, {@link #ID_BYTES} bytes each:
 * the k data groups (one per model index) first, then the t model groups (one per data index).
 * Every rank of a group finds the same id at {@link #slot}, and no two groups share one.
 */
public final class NcclIds {
    /** NCCL_UNIQUE_ID_BYTES. */
    public static final int ID_BYTES = 128;
    private static final int HEADER = 2 * Integer.BYTES;

    private NcclIds() {}

    /** How many communicators the mesh has: one per data group and one per model group. */
    public static int count(Mesh mesh) { return mesh.model() + mesh.data(); }

    /** Which id {@code rank}'s group along {@code a} uses. */
    public static int slot(Mesh mesh, Axis a, int rank) {
        return a == Axis.DATA ? mesh.modelIndex(rank) : mesh.model() + mesh.dataIndex(rank);
    }

    /** Rank 0's payload: its mesh and {@link #count} fresh ids from {@code newId}. */
    public static byte[] create(Mesh mesh, Supplier<byte[]> newId) {
        ByteBuffer all = ByteBuffer.allocate(HEADER + count(mesh) * ID_BYTES).putInt(mesh.data()).putInt(mesh.model());
        for (int i = 0; i < count(mesh); i++) {
            byte[] id = newId.get();
            if (id.length != ID_BYTES) throw new IllegalStateException("an NCCL unique id has " + id.length + " bytes, expected " + ID_BYTES);
            all.put(id);
        }
        return all.array();
    }

    /** The id of {@code rank}'s group along {@code a}, out of rank 0's payload; refuses a payload for another mesh. */
    public static byte[] of(byte[] payload, Mesh mesh, Axis a, int rank) {
        if (payload.length < HEADER)
            throw new IllegalStateException("rank 0 sent no NCCL ids (" + payload.length + " bytes): is rank 0 running "
                    + "with --backend cuda like this rank?");
        ByteBuffer b = ByteBuffer.wrap(payload);
        Mesh theirs = new Mesh(b.getInt(), b.getInt());
        if (!theirs.equals(mesh))
            throw new IllegalStateException("rank 0 runs mesh " + theirs + " but rank " + rank + " was given mesh " + mesh
                    + ": give every rank the same --mesh");
        if (payload.length != HEADER + count(mesh) * ID_BYTES)
            throw new IllegalStateException("rank 0 sent " + (payload.length - HEADER) + " bytes of NCCL ids but mesh " + mesh
                    + " needs " + count(mesh) * ID_BYTES + ": every rank must run the same version of vit");
        int s = HEADER + slot(mesh, a, rank) * ID_BYTES;
        return Arrays.copyOfRange(payload, s, s + ID_BYTES);
    }
}
