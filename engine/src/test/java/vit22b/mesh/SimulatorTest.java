package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.graph.Axis;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.mesh.sim.Chip;
import vit22b.mesh.sim.CostModel;
import vit22b.mesh.sim.Simulation;
import vit22b.mesh.sim.Simulator;
import vit22b.model.ModelStats;
import vit22b.model.Presets;

class SimulatorTest {
    static final Chip H100 = Chip.H100;

    @Test void overlapHidesCommunicationBehindIndependentCompute() {
        for (boolean overlap : new boolean[]{true, false}) {
            TaskGraph g = new TaskGraph(overlap);
            var a = g.compute("a", Cost.compute(H100.peakFlops(), 0), null);          // 1 s
            g.comm("c", Cost.collective(Cost.Kind.SHIFT, Axis.MODEL, 225e9), null);     // 0.5 s on NVLink
            g.compute("b", Cost.compute(H100.peakFlops(), 0), null, a);                 // 1 s
            var tl = Simulator.run(g, CostModel.of(H100, new Mesh(1, 2)));
            assertEquals(overlap ? 2.0 : 2.5, tl.step(), 1e-5);
            assertEquals(overlap ? 0.0 : 0.5, tl.exposed(), 1e-5);
        }
    }

    @Test void dependenciesDelayTasksAcrossQueues() {
        TaskGraph g = new TaskGraph(true);
        var c = g.comm("c", Cost.collective(Cost.Kind.SHIFT, Axis.MODEL, 450e9), null);   // 1 s
        g.compute("a", Cost.compute(H100.peakFlops(), 0), null, c);                        // waits, then 1 s
        assertEquals(2.0, Simulator.run(g, CostModel.of(H100, new Mesh(1, 2))).step(), 1e-5);
    }

    @Test void rooflineAndRingCosts() {
        CostModel m = CostModel.of(Chip.TPUV4, new Mesh(1, 4));
        // Memory-bound elementwise: 1.2e12 bytes take 1 s at 1.2 TB/s.
        assertEquals(1.0, m.seconds(Cost.compute(1, 1.2e12)), 1e-9);
        // Ring all-gather of 4 x 90 GB over 4 chips (a 2x2x1 slice, all 6 links for the model axis).
        double ag = m.seconds(Cost.collective(Cost.Kind.ALL_GATHER, Axis.MODEL, 360e9));
        assertEquals(0.75 * 360e9 / (6 * 45e9) + 3e-6, ag, 1e-9);
        assertEquals(2 * ag, m.seconds(Cost.collective(Cost.Kind.ALL_REDUCE, Axis.MODEL, 360e9)), 1e-9);
        assertEquals(0, m.seconds(Cost.collective(Cost.Kind.ALL_GATHER, Axis.DATA, 360e9)));
    }

    @Test void stepGraphDoesTheModelsFlops() {
        var c = Presets.get("vit-b");
        int batch = 64;
        Mesh mesh = new Mesh(4, 2);
        var g = Simulation.graph(c, mesh, batch, true, false);
        double flops = 0;
        for (var t : g.tasks()) if (t.cost() instanceof Cost.Compute x) flops += x.flops();
        double want = 3.0 * ModelStats.forwardFlopsPerImage(c) * batch / mesh.devices();
        assertTrue(Math.abs(flops / want - 1) < 0.03, "graph does " + flops + " FLOPs per device, model " + want);
    }

    @Test void vit22bOnTpuV4IsPlausibleAndOverlapHelps() {
        var c = Presets.get("vit-22b");
        var on = Simulation.run(c, Chip.TPUV4, new Mesh(256, 4), 65536, true);
        var off = Simulation.run(c, Chip.TPUV4, new Mesh(256, 4), 65536, false);
        assertTrue(on.mfu() > 0.2 && on.mfu() < 0.8, "MFU " + on.mfu());
        assertTrue(on.stepSeconds() < off.stepSeconds());
        assertTrue(on.exposedCommSeconds() < off.exposedCommSeconds());
        assertTrue(on.memory().total() < Chip.TPUV4.hbmBytes());
        var best = Simulation.search(c, Chip.TPUV4, 1024, 65536, true);
        assertTrue(best.mfu() >= on.mfu());
    }

    @Test void whatDoesNotFitIsRefused() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Simulation.run(Presets.get("vit-22b"), Chip.TPUV4, new Mesh(4, 2), 65536, true));
        assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
        var none = assertThrows(IllegalArgumentException.class,
                () -> Simulation.search(Presets.get("vit-22b"), Chip.TPUV4, 8, 65536, true));
        assertTrue(none.getMessage().startsWith("no mesh of 8 chips works"), none.getMessage());
    }
}
