package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.model.Buffers;
import vit22b.model.ModelConfig;
import vit22b.model.ModelFixtures;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * The simulator times the graph the executors run: the step graph of a bound {@link ShardedViT}
 * (bodies, on a CPU mesh device) and {@link ShardedViT#plan} (nothing bound) of the same
 * model, mesh, batch, overlap and recomputation have the same tasks, in the same order, on the
 * same queues, with the same dependencies and costs.
 */
class StepGraphTest {
    static final AdamW.Config OPT = new AdamW.Config(0.9f, 0.95f, 1e-8f, 0.1f, 0.3f, 1f);

    @ParameterizedTest
    @CsvSource({"1,1,true,false", "2,2,true,false", "1,4,true,true", "4,1,false,false", "2,2,false,true", "1,2,true,true"})
    void thePlanIsTheExecutorsGraph(int t, int k, boolean overlap, boolean remat) {
        ModelConfig c = Presets.get("test-small").withDepth(3);
        int batch = 4;
        Mesh mesh = new Mesh(t, k);
        CpuMesh cm = new CpuMesh(mesh);
        int rank = mesh.devices() - 1;   // any device: the graph's shape is the same on all
        CpuDevice d = cm.device(rank);
        float[] params = ModelFixtures.randomParams(new ParamLayout(c), 7);
        TaskGraph bound = new TaskGraph(overlap);
        try (ShardedViT m = new ShardedViT(d.backend(), d.comm(), c, batch, params, OPT, remat);
             Buffers in = new Buffers(d.backend())) {
            Tensor images = in.get(batch / t, c.channels(), c.imageSize(), c.imageSize());
            Tensor targets = in.get(batch / t, c.classes());
            m.trainStep(bound, images, targets, 1e-3f, null);
        }
        TaskGraph plan = ShardedViT.plan(c, mesh, batch, overlap, remat, Float.BYTES);
        assertEquals(plan.size(), bound.size(), "task count");
        for (int i = 0; i < plan.size(); i++) {
            TaskGraph.Task p = plan.tasks().get(i), b = bound.tasks().get(i);
            String at = "task " + i + " (" + b.name() + ")";
            assertEquals(b.name(), p.name(), at);
            assertEquals(b.queue(), p.queue(), at);
            assertArrayEquals(b.deps(), p.deps(), at);
            assertEquals(b.cost(), p.cost(), at);
            assertNotNull(b.body(), at);
            assertNull(p.body(), at);
        }
    }
}
