package vit22b.mesh;

import java.util.Arrays;

import vit22b.backend.Backend;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.model.Buffers;
import vit22b.model.ModelConfig;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * The sharded side of the equivalence tests, once for every kind of {@link MeshDevices}: imports
 * the model on every rank, runs the given steps in one task graph per rank (each rank taking its
 * data shard of every batch) and reads back what each rank holds after them.
 */
public final class ShardedSteps {
    private ShardedSteps() {}

    /** Per rank: the model after the steps (closed; loss, gradient norm and step count stay readable), the rest's and every block's parameters. */
    public record Result(ShardedViT[] models, float[][] rest, float[][][] blocks) {}

    public static Result run(MeshDevices devices, ModelConfig c, int batch, float[] params, AdamW.Config opt, float lr,
                             float[][] img, float[][] tgt, boolean overlap) {
        Mesh mesh = devices.mesh();
        int n = mesh.devices(), imgs = batch / mesh.data(), perImage = c.channels() * c.imageSize() * c.imageSize();
        ShardedViT[] models = new ShardedViT[n];
        Buffers[] inputs = new Buffers[n];
        float[][] rest = new float[n][];
        float[][][] blocks = new float[n][c.depth()][];
        try {
            devices.run(rank -> {
                Backend be = devices.backend(rank);
                ShardedViT m = models[rank] = new ShardedViT(be, devices.comm(rank), c, batch, params, opt);
                Buffers in = inputs[rank] = new Buffers(be);
                int i = mesh.dataIndex(rank);
                TaskGraph g = new TaskGraph(overlap);
                TaskGraph.Task last = null;
                for (int s = 0; s < img.length; s++) {
                    Tensor images = in.get(imgs, c.channels(), c.imageSize(), c.imageSize()), targets = in.get(imgs, c.classes());
                    be.upload(images, Arrays.copyOfRange(img[s], i * imgs * perImage, (i + 1) * imgs * perImage));
                    be.upload(targets, Arrays.copyOfRange(tgt[s], i * imgs * c.classes(), (i + 1) * imgs * c.classes()));
                    last = m.trainStep(g, images, targets, lr, last);
                }
                g.compute("read", Cost.compute(0, 0), () -> {
                    rest[rank] = be.download(m.restParams());
                    for (int l = 0; l < c.depth(); l++) blocks[rank][l] = be.download(m.blockParams(l));
                }, m.gatherParams(g, last));
                return g;
            }, null);
        } finally {
            for (int r = 0; r < n; r++) {
                if (models[r] != null) models[r].close();
                if (inputs[r] != null) inputs[r].close();
            }
        }
        return new Result(models, rest, blocks);
    }
}
