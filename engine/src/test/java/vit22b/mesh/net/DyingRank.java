package vit22b.mesh.net;

import java.time.Duration;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Axis;
import vit22b.graph.Mesh;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Rank 1 of {@link LinkFailureTest}'s 1x2 job, in its own JVM: joins through the environment,
 * does one model-axis shift of {@code Check.randn(SEED, N)}, then dies (Runtime.halt) in the
 * middle of the next step, as a crashed process would. Usage: DyingRank SEED N
 */
public final class DyingRank {
    public static void main(String[] args) {
        long seed = Long.parseLong(args[0]);
        int n = Integer.parseInt(args[1]);
        try (ProcessGroup pg = ProcessGroup.join(new Mesh(1, 2), System.getenv(), Duration.ofSeconds(30));
             CpuBackend be = new CpuBackend()) {
            Tensor send = be.allocate(n), recv = be.allocate(n);
            be.upload(send, Check.randn(seed, n, 1.0));
            pg.comm().shift(Axis.MODEL, send, recv).await();
            System.out.println("rank 1: first shift done, dying");
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }
    }
}
