package vit22b.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** The 1 x 1 pieces the unsharded model runs on: the eager graph and the local communicator. */
class LocalGraphTest {

    @Test void anEagerGraphRunsEachTaskAsItIsAddedAndKeepsNone() {
        TaskGraph g = TaskGraph.eager();
        List<String> ran = new ArrayList<>();
        TaskGraph.Task a = g.compute("a", Cost.compute(1, 1), () -> ran.add("a"));
        assertEquals(List.of("a"), ran, "a ran when added");
        g.comm("b", Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, 4), () -> ran.add("b"), a);
        assertEquals(List.of("a", "b"), ran);
        assertEquals(0, g.size(), "an eager graph keeps no tasks");
        var e = assertThrows(IllegalStateException.class, () -> g.compute("c", Cost.compute(0, 0), null));
        assertTrue(e.getMessage().contains("'c' has no body"), e.getMessage());
    }

    @Test void localCollectivesCopyOrLeaveAlone() {
        long seed = 71;
        System.out.println("LocalGraphTest seed " + seed);
        try (CpuBackend be = new CpuBackend()) {
            LocalCommunicator comm = new LocalCommunicator(be);
            assertEquals(new Mesh(1, 1), comm.mesh());
            float[] data = Check.randn(seed, 12, 1);
            Tensor in = be.allocate(12), out = be.allocate(12);
            be.upload(in, data);
            comm.allGather(Axis.MODEL, out, in).await();
            Check.assertClose("all-gather of one", be.download(out), Check.toDouble(data), 1e-12);
            be.zero(out);
            comm.reduceScatter(Axis.DATA, out, in).await();
            Check.assertClose("reduce-scatter of one", be.download(out), Check.toDouble(data), 1e-12);
            comm.allReduce(Axis.MODEL, in, be.allocate(12)).await();
            Check.assertClose("all-reduce of one", be.download(in), Check.toDouble(data), 1e-12);
            be.zero(out);
            comm.send(Axis.MODEL, 1, in);
            comm.recv(Axis.MODEL, -1, out).await();
            Check.assertClose("a ring of one sends to itself", be.download(out), Check.toDouble(data), 1e-12);
            assertThrows(IllegalStateException.class, () -> comm.recv(Axis.MODEL, -1, out));
            assertThrows(IllegalArgumentException.class, () -> comm.allGather(Axis.DATA, be.allocate(5), in));
        }
    }
}
