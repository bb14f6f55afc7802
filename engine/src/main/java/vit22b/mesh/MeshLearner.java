package vit22b.mesh;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.eval.OneHot;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.model.AttentionStats;
import vit22b.model.Buffers;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.Shard;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;
import vit22b.train.BatchSource;
import vit22b.train.Checkpoints;
import vit22b.train.Learner;
import vit22b.train.TrainingDivergedException;

/**
 * The {@link Learner} of a t x k mesh of devices in this process ({@link MeshDevices}: CPU
 * threads, or every rank on one CUDA device): one {@link ShardedViT} per device, each update one
 * task graph per device run by the devices' executor, as
 * {@link MeshTraining} drives them. Device (i, j) takes images [i B/t, (i+1) B/t) of each batch.
 * Parameters and Adam moments stay sharded; {@link #snapshot} and {@link #model} gather the
 * parameters into the unsharded layout.
 *
 * <p>Checkpoints hold the whole state in the unsharded layout, assembled on the host from every
 * device's pieces (all devices are in this process): parameters, both Adam moments and the
 * update count, so a resumed run continues the same optimiser.
 */
public final class MeshLearner implements Learner {
    private final Mesh mesh;
    private final ModelConfig c;
    private final int batch, imgs;
    private final MeshDevices devices;
    private final ShardedViT[] models;
    private final Buffers[] inputs;
    private final Tensor[] images, targets;
    private final int startStep;
    private int updates;
    private double gradNorm = Double.NaN;
    private Path traceFile;
    private CpuBackend evalBackend;
    private ViT evalModel;

    /**
     * Shards {@code start} (parameters and, for a resumed run, moments and updates done; ParamLayout
     * order) over the devices, which the learner owns from now on (closed with it, or at once if
     * this fails). Refuses a mesh that cannot shard the model.
     */
    public MeshLearner(MeshDevices devices, ModelConfig c, int batch, Checkpoints.Snapshot start, AdamW.Config opt) {
        this.devices = devices;
        this.mesh = devices.mesh();
        try {
            Shard.check(c, mesh, batch);
        } catch (RuntimeException e) {
            devices.close();
            throw e;
        }
        this.c = c;
        this.batch = batch;
        this.imgs = batch / mesh.data();
        this.startStep = start.step();
        int n = mesh.devices();
        models = new ShardedViT[n];
        inputs = new Buffers[n];
        images = new Tensor[n];
        targets = new Tensor[n];
        try {
            for (int r = 0; r < n; r++) {
                Backend be = devices.backend(r);
                models[r] = new ShardedViT(be, devices.comm(r), c, batch, start.params(), opt);
                if (start.step() > 0) models[r].resume(start.step(), start.m(), start.v());
                inputs[r] = new Buffers(be);
                images[r] = inputs[r].get(imgs, c.channels(), c.imageSize(), c.imageSize());
                targets[r] = inputs[r].get(imgs, c.classes());
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Records the next update's tasks on every device as a Chrome trace in {@code file}. */
    public void traceNextUpdate(Path file) { traceFile = file; }

    @Override public ModelConfig config() { return c; }
    @Override public int step() { return startStep + updates; }
    @Override public double gradNorm() { return gradNorm; }
    /** The sharded blocks keep no attention statistics. */
    @Override public AttentionStats attentionStats() { return null; }

    @Override public double update(List<BatchSource.Batch> batches, float lr) {
        if (batches.size() != 1)
            throw new IllegalArgumentException("a mesh update takes one batch (no accumulation), got " + batches.size());
        BatchSource.Batch b = batches.getFirst();
        if (b.labels().length != batch)
            throw new IllegalStateException("the mesh needs whole batches of " + batch + " images, got " + b.labels().length
                    + " (images were skipped); drop --skip-bad or train without --mesh");
        int px = c.channels() * c.imageSize() * c.imageSize();
        float[] oneHot = OneHot.of(b.labels(), c.classes());
        for (int r = 0; r < models.length; r++) {
            int i = mesh.dataIndex(r);
            Backend be = devices.backend(r);
            be.upload(images[r], Arrays.copyOfRange(b.images(), i * imgs * px, (i + 1) * imgs * px));
            be.upload(targets[r], Arrays.copyOfRange(oneHot, i * imgs * c.classes(), (i + 1) * imgs * c.classes()));
        }
        Trace trace = traceFile == null ? null : new Trace();
        try {
            devices.run(r -> {
                TaskGraph g = new TaskGraph(true);
                models[r].trainStep(g, images[r], targets[r], lr, null);
                return g;
            }, trace);
        } catch (IllegalStateException e) {
            // A non-finite gradient norm stops every device before its AdamW tasks: nothing was updated.
            for (ShardedViT m : models)
                if (!Double.isFinite(m.gradNorm())) throw new TrainingDivergedException("gradient norm is " + m.gradNorm());
            throw e;
        }
        updates++;
        gradNorm = models[0].gradNorm();
        if (trace != null) {
            try {
                trace.write(traceFile);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the trace " + traceFile + ": " + e.getMessage(), e);
            }
            traceFile = null;
        }
        dropEvalModel();   // its parameters are the last update's
        return models[0].loss();
    }

    /** The parameters, assembled from the devices' pieces, in the unsharded ParamLayout order. */
    public float[] fullParams() { return assemble(ShardedViT.State.PARAMS); }

    /** Parameters, Adam moments and updates done, in the unsharded layout: what one device's run would save. */
    @Override public Checkpoints.Snapshot snapshot() {
        return new Checkpoints.Snapshot(assemble(ShardedViT.State.PARAMS), assemble(ShardedViT.State.M),
                assemble(ShardedViT.State.V), step());
    }

    /**
     * One kind of state in the unsharded ParamLayout order, from every device's piece: device (i, j)
     * holds piece i of model shard j of every block and piece i of the rest (the same on every j).
     */
    private float[] assemble(ShardedViT.State s) {
        ParamLayout full = new ParamLayout(c), shard = ParamLayout.blockShard(c, mesh.model()), restLayout = ParamLayout.withoutBlocks(c);
        float[] out = new float[Math.toIntExact(full.total())];
        float[] rest = concatPieces(i -> models[mesh.rank(i, 0)].restState(s), i -> mesh.rank(i, 0));
        for (ParamLayout.Entry e : restLayout.entries())
            System.arraycopy(rest, (int) e.offset(), out, (int) full.entry(e.name()).offset(), (int) e.size());
        for (int j = 0; j < mesh.model(); j++) {
            int jj = j;
            for (int l = 0; l < c.depth(); l++) {
                int ll = l;
                float[] blk = concatPieces(i -> models[mesh.rank(i, jj)].blockState(ll, s), i -> mesh.rank(i, jj));
                shard.insertShard(Arrays.copyOf(blk, Math.toIntExact(shard.total())), out, l, j);
            }
        }
        return out;
    }

    /** The data group's pieces (device of data index i: rankOf(i)) one after another. */
    private float[] concatPieces(IntFunction<Tensor> pieceOf, IntUnaryOperator rankOf) {
        int t = mesh.data(), n = (int) pieceOf.apply(0).size();
        float[] out = new float[n * t];
        for (int i = 0; i < t; i++) System.arraycopy(devices.backend(rankOf.applyAsInt(i)).download(pieceOf.apply(i)), 0, out, i * n, n);
        return out;
    }

    /** A whole-model copy on this JVM's CPU with the gathered parameters, remade after each update. */
    @Override public ViT model() {
        if (evalModel == null) {
            if (evalBackend == null) evalBackend = new CpuBackend();
            evalModel = new ViT(evalBackend, c);
            evalBackend.upload(evalModel.params(), fullParams());
        }
        return evalModel;
    }

    private void dropEvalModel() {
        if (evalModel != null) evalModel.close();
        evalModel = null;
    }

    @Override public void close() {
        dropEvalModel();
        for (ShardedViT m : models) if (m != null) m.close();
        for (Buffers b : inputs) if (b != null) b.close();
        if (evalBackend != null) evalBackend.close();
        devices.close();
    }
}
