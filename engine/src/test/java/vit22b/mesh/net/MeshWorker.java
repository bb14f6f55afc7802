package vit22b.mesh.net;

import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Mesh;
import vit22b.mesh.MeshTraining;
import vit22b.mesh.Trace;

/**
 * One rank of {@link MultiProcessTest}'s job, in its own JVM: joins the mesh through the
 * environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), trains {@link MultiProcessTest#setup}
 * and writes its losses and gathered parameters to the file named by its second argument.
 * Usage: MeshWorker TxK OUT [TRACE]
 */
public final class MeshWorker {
    public static void main(String[] args) throws IOException {
        Mesh mesh = Mesh.parse(args[0]);
        MeshTraining.Setup s = MultiProcessTest.setup();
        try (ProcessGroup pg = ProcessGroup.join(mesh, System.getenv(), Duration.ofSeconds(30));
             CpuBackend be = new CpuBackend();
             MeshTraining run = new MeshTraining(s, be, pg.comm())) {
            Trace trace = new Trace();
            run.runAlone(trace, pg::close);
            writeResults(args[1], run, s);
            if (args.length > 2) trace.write(Path.of(args[2]));
        } catch (RuntimeException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    /** The losses, then the parameters outside the blocks, then this rank's shard of every block. */
    public static void writeResults(String file, MeshTraining run, MeshTraining.Setup s) throws IOException {
        try (DataOutputStream out = new DataOutputStream(new FileOutputStream(file))) {
            for (double l : run.losses()) out.writeDouble(l);
            write(out, run.restParams());
            for (int l = 0; l < s.model().depth(); l++) write(out, run.blockParams(l));
        }
    }

    private static void write(DataOutputStream out, float[] a) throws IOException {
        out.writeInt(a.length);
        for (float f : a) out.writeFloat(f);
    }
}
