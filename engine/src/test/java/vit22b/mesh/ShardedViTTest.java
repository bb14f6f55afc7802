package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.model.Buffers;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.ModelFixtures;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;
import vit22b.train.AdamW;

/**
 * A whole training step (forward, loss over the global batch, backward, gradient reductions,
 * global-norm clipping, AdamW with decay groups) on a t x k mesh of CPU-thread devices equals
 * {@link ViT#forwardBackward} then {@link AdamW#step} on one device, parameter by parameter.
 */
class ShardedViTTest {
    static final int BATCH = 4;
    static final float LR = 1e-2f;
    /**
     * Clipping on (these gradients' norm is well above 0.5), body and head decay differ, and eps
     * is large next to the clipped gradients (~3e-3 per element), so a wrong norm changes the
     * update: with a tiny eps Adam's first step is sign(g) whatever the scale.
     */
    static final AdamW.Config OPT = new AdamW.Config(0.9f, 0.95f, 1e-3f, 0.1f, 0.3f, 0.5f);

    record Reference(double loss, double norm, float[] grads, float[] updated) {}

    static Reference reference(ModelConfig c, float[] params, float[] img, float[] tgt) {
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            be.upload(vit.params(), params);
            Tensor images = buf.get(BATCH, c.channels(), c.imageSize(), c.imageSize()), targets = buf.get(BATCH, c.classes());
            be.upload(images, img);
            be.upload(targets, tgt);
            double loss = vit.forwardBackward(images, targets);
            float[] grads = be.download(vit.grads());
            try (AdamW opt = new AdamW(be, vit, OPT)) {
                double norm = opt.step(LR);
                return new Reference(loss, norm, grads, be.download(vit.params()));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1,1,overlap", "1,2,overlap", "2,1,overlap", "2,2,overlap", "1,4,overlap", "4,1,overlap", "2,2,no-overlap",
                "2,2,layer-softmax", "2,2,remat", "1,2,remat"})
    void shardedTrainingStepEqualsTheUnshardedStep(int t, int k, String variant) {
        ModelConfig c = Presets.get("test-small");
        if (variant.equals("layer-softmax")) c = c.withNorm(NormKind.LAYER).withLoss(LossKind.SOFTMAX);
        ParamLayout layout = new ParamLayout(c);
        float[] params = ModelFixtures.randomParams(layout, 31), img = ModelFixtures.images(c, BATCH, 32),
                tgt = ModelFixtures.targets(c, BATCH, 33);
        Reference ref = reference(c, params, img, tgt);
        assertTrue(ref.norm() > 2 * OPT.clipNorm(), "the test must exercise clipping: norm " + ref.norm());

        Mesh mesh = new Mesh(t, k);
        CpuMesh cm = new CpuMesh(mesh);
        int n = mesh.devices(), imgs = BATCH / t, perImage = c.channels() * c.imageSize() * c.imageSize();
        ShardedViT[] models = new ShardedViT[n];
        Tensor[][] inputs = new Tensor[n][];
        float[][][] blockGrads = new float[n][c.depth()][], blockParams = new float[n][c.depth()][];
        float[][] restGrads = new float[n][], restParams = new float[n][];
        ModelConfig cfg = c;
        boolean overlap = !variant.equals("no-overlap"), remat = variant.equals("remat");
        try {
            cm.run(rank -> {
                CpuBackend be = cm.device(rank).backend();
                ShardedViT m = models[rank] = new ShardedViT(cm.device(rank).backend(), cm.device(rank).comm(), cfg, BATCH, params, OPT,
                        remat);
                int i = mesh.dataIndex(rank);
                Tensor images = be.allocate(imgs, cfg.channels(), cfg.imageSize(), cfg.imageSize());
                Tensor targets = be.allocate(imgs, cfg.classes());
                inputs[rank] = new Tensor[]{images, targets};
                be.upload(images, Arrays.copyOfRange(img, i * imgs * perImage, (i + 1) * imgs * perImage));
                be.upload(targets, Arrays.copyOfRange(tgt, i * imgs * cfg.classes(), (i + 1) * imgs * cfg.classes()));
                TaskGraph g = new TaskGraph(overlap);
                var step = m.trainStep(g, images, targets, LR, null);
                // AdamW reads the gradient pieces without changing them: read them after the step.
                var read = g.compute("read-grads", Cost.compute(0, 0), () -> {
                    restGrads[rank] = be.download(m.restGradPiece());
                    for (int l = 0; l < cfg.depth(); l++) blockGrads[rank][l] = be.download(m.blockGradPiece(l));
                }, step);
                g.compute("read-params", Cost.compute(0, 0), () -> {
                    restParams[rank] = be.download(m.restParams());
                    for (int l = 0; l < cfg.depth(); l++) blockParams[rank][l] = be.download(m.blockParams(l));
                }, m.gatherParams(g, read));
                return g;
            });
        } finally {
            for (int r = 0; r < n; r++) {
                if (models[r] != null) models[r].close();
                if (inputs[r] != null) for (Tensor x : inputs[r]) cm.device(r).backend().free(x);
            }
        }

        for (int r = 0; r < n; r++)
            assertEquals(0, Math.abs(models[r].loss() - ref.loss()) / ref.loss(), 1e-5,
                    "loss on device " + r + ": " + models[r].loss() + " vs " + ref.loss());
        // Gradients first (the rest, per model index, then each block's model shards), then the
        // norm clipping uses, then the updated parameters on every device.
        ParamLayout restLayout = ParamLayout.withoutBlocks(c);
        float[] refRestGrads = ParamLayout.withoutBlocks(c).extract(layout, ref.grads()), refRest = ParamLayout.withoutBlocks(c).extract(layout, ref.updated());
        for (int j = 0; j < k; j++) {
            float[] g = new float[(int) restLayout.total()];
            for (int i = 0; i < t; i++) fillPiece(g, restGrads[mesh.rank(i, j)], i, models[0].restPiece());
            for (ParamLayout.Entry e : restLayout.entries())
                assertRegion("gradient of " + e.name() + " (model index " + j + ")", g, refRestGrads, e.offset(), e.size());
        }
        ParamLayout bl = ParamLayout.blockShard(c, k);
        for (int l = 0; l < c.depth(); l++) {
            for (int j = 0; j < k; j++) {
                float[] g = new float[(int) bl.total()], shardG = bl.extractShard(ref.grads(), l, j);
                for (int i = 0; i < t; i++) fillPiece(g, blockGrads[mesh.rank(i, j)][l], i, models[0].blockPiece());
                for (ParamLayout.Entry e : bl.entries())
                    assertRegion("gradient of blocks." + l + "." + e.name() + " (model shard " + j + ")", g, shardG,
                            e.offset(), e.size());
            }
        }
        for (int r = 0; r < n; r++)
            assertEquals(0, Math.abs(models[r].gradNorm() - ref.norm()) / ref.norm(), 1e-5,
                    "gradient norm on device " + r + ": " + models[r].gradNorm() + " vs " + ref.norm());
        for (int r = 0; r < n; r++) {
            for (ParamLayout.Entry e : restLayout.entries())
                assertRegion("updated " + e.name() + " on device " + r, restParams[r], refRest, e.offset(), e.size());
            for (int l = 0; l < c.depth(); l++) {
                float[] shardP = bl.extractShard(ref.updated(), l, mesh.modelIndex(r));
                for (ParamLayout.Entry e : bl.entries())
                    assertRegion("updated blocks." + l + "." + e.name() + " on device " + r, blockParams[r][l], shardP,
                            e.offset(), e.size());
            }
        }
    }

    /** Two steps in one graph: the moments, the step count and the parameter pieces carry over. */
    @Test void twoStepsEqualTwoUnshardedSteps() {
        ModelConfig c = Presets.get("test-small");
        ParamLayout layout = new ParamLayout(c);
        float[] params = ModelFixtures.randomParams(layout, 41);
        float[][] img = {ModelFixtures.images(c, BATCH, 42), ModelFixtures.images(c, BATCH, 43)};
        float[][] tgt = {ModelFixtures.targets(c, BATCH, 44), ModelFixtures.targets(c, BATCH, 45)};
        double refLoss;
        float[] refParams;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be);
             AdamW opt = new AdamW(be, vit, OPT)) {
            be.upload(vit.params(), params);
            Tensor images = buf.get(BATCH, c.channels(), c.imageSize(), c.imageSize()), targets = buf.get(BATCH, c.classes());
            double loss = 0;
            for (int s = 0; s < 2; s++) {
                be.upload(images, img[s]);
                be.upload(targets, tgt[s]);
                loss = vit.forwardBackward(images, targets);
                opt.step(LR);
            }
            refLoss = loss;
            refParams = be.download(vit.params());
        }

        Mesh mesh = new Mesh(2, 2);
        ShardedSteps.Result got;
        try (CpuMesh cm = new CpuMesh(mesh)) {
            got = ShardedSteps.run(cm, c, BATCH, params, OPT, LR, img, tgt, true);
        }
        ShardedViT[] models = got.models();
        float[] refRest = ParamLayout.withoutBlocks(c).extract(layout, refParams);
        for (int r = 0; r < mesh.devices(); r++) {
            assertEquals(2, models[r].step());
            assertEquals(0, Math.abs(models[r].loss() - refLoss) / refLoss, 1e-5, "second loss " + models[r].loss() + " vs " + refLoss);
            Check.assertClose("rest after two steps on device " + r, got.rest()[r], Check.toDouble(refRest), 1e-5);
            Check.assertClose("block 1 after two steps on device " + r, got.blocks()[r][1],
                    Check.toDouble(ParamLayout.blockShard(c, 2).extractShard(refParams, 1, mesh.modelIndex(r))), 1e-5);
        }
    }

    /** Copies data piece i (of {@code piece} floats, the last one padded) into its place in {@code flat}. */
    private static void fillPiece(float[] flat, float[] pc, int i, int piece) {
        int from = i * piece, len = Math.min(piece, flat.length - from);
        if (len > 0) System.arraycopy(pc, 0, flat, from, len);
    }

    private static void assertRegion(String what, float[] got, float[] ref, long offset, long size) {
        int o = (int) offset, s = (int) size;
        Check.assertClose(what, Arrays.copyOfRange(got, o, o + s), Check.toDouble(Arrays.copyOfRange(ref, o, o + s)), 1e-5);
    }

    /** Imports the model on device 0 of a CPU mesh. */
    private static ShardedViT firstDevice(Mesh m, ModelConfig c, int batch, float[] params, AdamW.Config opt) {
        CpuDevice d = new CpuMesh(m).device(0);
        return new ShardedViT(d.backend(), d.comm(), c, batch, params, opt);
    }

    @Test void meshesThatCannotShardTheStepAreRefused() {
        ModelConfig c = Presets.get("test-small");
        float[] params = new float[(int) new ParamLayout(c).total()];
        var batch = assertThrows(IllegalArgumentException.class,
                () -> firstDevice(new Mesh(3, 1), c, BATCH, params, OPT));
        assertTrue(batch.getMessage().contains("data axis 3 does not divide the batch 4"), batch.getMessage());
        var heads = assertThrows(IllegalArgumentException.class,
                () -> firstDevice(new Mesh(1, 3), c, BATCH, params, OPT));
        assertTrue(heads.getMessage().contains("does not divide the 4 heads"), heads.getMessage());
        var noClasses = assertThrows(IllegalArgumentException.class,
                () -> firstDevice(new Mesh(1, 1), c.withClasses(0), BATCH,
                        new float[(int) new ParamLayout(c.withClasses(0)).total()], OPT));
        assertTrue(noClasses.getMessage().contains("no classifier"), noClasses.getMessage());
    }
}
