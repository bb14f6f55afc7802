package vit22b.mesh;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.model.Buffers;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * Training steps of {@link ShardedViT} on one device of a mesh, on seeded random data (the same
 * global batches on every device, each taking its data shard): the end-to-end check of a mesh
 * (threads of one JVM or processes over TCP), and what `vit mesh-train` and the overlap
 * measurement run. After the graph has run, the device's losses and its gathered parameters
 * (the rest, and its model shard of every block) are on the host.
 */
public final class MeshTraining implements AutoCloseable {

    /** What to train: model, global batch, number of steps, data/init seed, learning rate, optimiser, overlap. */
    public record Setup(ModelConfig model, int batch, int steps, long seed, float lr, AdamW.Config opt, boolean overlap) {
        public Setup {
            if (steps <= 0) throw new IllegalArgumentException("steps must be positive, got " + steps);
            if (batch <= 0) throw new IllegalArgumentException("batch must be positive, got " + batch);
        }
    }

    private final Setup s;
    private final Backend be;
    private final Communicator comm;
    private final ShardedViT model;
    private final Buffers inputs;
    private final Tensor[] images, targets;
    private final double[] losses;
    private float[] rest;
    private final float[][] blocks;

    /** Imports the seeded model on this device and uploads its shard of every step's batch. */
    public MeshTraining(Setup s, Backend be, Communicator comm) {
        this.s = s;
        this.be = be;
        this.comm = comm;
        ModelConfig c = s.model();
        this.model = new ShardedViT(be, comm, c, s.batch(), initialParams(c, s.seed()), s.opt());
        this.inputs = new Buffers(be);
        Mesh mesh = comm.mesh();
        int imgs = s.batch() / mesh.data(), i = comm.index(Axis.DATA), px = c.channels() * c.imageSize() * c.imageSize();
        images = new Tensor[s.steps()];
        targets = new Tensor[s.steps()];
        for (int step = 0; step < s.steps(); step++) {
            float[][] b = batch(s, step);
            images[step] = inputs.get(imgs, c.channels(), c.imageSize(), c.imageSize());
            targets[step] = inputs.get(imgs, c.classes());
            be.upload(images[step], Arrays.copyOfRange(b[0], i * imgs * px, (i + 1) * imgs * px));
            be.upload(targets[step], Arrays.copyOfRange(b[1], i * imgs * c.classes(), (i + 1) * imgs * c.classes()));
        }
        losses = new double[s.steps()];
        blocks = new float[c.depth()][];
    }

    /** The model's initial parameters in ParamLayout order (big_vision init, seeded): the same in every process. */
    public static float[] initialParams(ModelConfig c, long seed) {
        ParamLayout layout = new ParamLayout(c);
        try (CpuBackend cpu = new CpuBackend(); Buffers b = new Buffers(cpu)) {
            Tensor p = b.get(Math.toIntExact(layout.total()));
            Init.init(cpu, layout, p, seed);
            return cpu.download(p);
        }
    }

    /** Step {@code step}'s global batch: {images uniform in [-1, 1), one-hot targets}. */
    public static float[][] batch(Setup s, int step) {
        ModelConfig c = s.model();
        SplittableRandom r = new SplittableRandom(s.seed() * 1_000_003L + step);
        float[] px = new float[s.batch() * c.channels() * c.imageSize() * c.imageSize()];
        for (int i = 0; i < px.length; i++) px[i] = (float) (2 * r.nextDouble() - 1);
        float[] oneHot = new float[s.batch() * c.classes()];
        for (int b = 0; b < s.batch(); b++) oneHot[b * c.classes() + r.nextInt(c.classes())] = 1f;
        return new float[][]{px, oneHot};
    }

    /** Every step, then the parameters gathered and read to the host. */
    public TaskGraph graph() {
        TaskGraph g = new TaskGraph(s.overlap());
        TaskGraph.Task last = null;
        for (int step = 0; step < s.steps(); step++) {
            int st = step;
            last = model.trainStep(g, images[step], targets[step], s.lr(), last);
            last = g.compute("read-loss", Cost.compute(0, 0), () -> losses[st] = model.loss(), last);
        }
        g.compute("read-params", Cost.compute(0, 0), () -> {
            rest = be.download(model.restParams());
            for (int l = 0; l < blocks.length; l++) blocks[l] = be.download(model.blockParams(l));
        }, model.gatherParams(g, last));
        return g;
    }

    /** Runs {@link #graph} for this process's one device (a multi-process job); {@code abort} stops the peers on failure. */
    public void runAlone(Trace trace, Runnable abort) {
        GraphRunner.run(Map.of(comm.rank(), graph()), trace, why -> abort.run());
    }

    /**
     * Runs the setup on every device of a mesh of CPU threads in this JVM, recording into
     * {@code trace} (nullable); returns each step's loss (the same on every device).
     */
    public static double[] onThreads(Setup s, Mesh mesh, Trace trace) {
        try (CpuMesh cm = new CpuMesh(mesh)) {
            return on(cm, s, trace);
        }
    }

    /**
     * Runs the setup on every rank of {@code devices} (CPU threads, or every rank on one CUDA
     * device), recording into {@code trace} (nullable); returns each step's loss (the same on
     * every rank).
     */
    public static double[] on(MeshDevices devices, Setup s, Trace trace) {
        MeshTraining[] runs = new MeshTraining[devices.mesh().devices()];
        try {
            devices.run(r -> (runs[r] = new MeshTraining(s, devices.backend(r), devices.comm(r))).graph(), trace);
            return runs[0].losses();
        } finally {
            for (MeshTraining m : runs) if (m != null) m.close();
        }
    }

    public ShardedViT model() { return model; }

    /** The mean loss over the global batch of each step. */
    public double[] losses() { return losses.clone(); }

    /** The parameters outside the blocks after the last step (ParamLayout.withoutBlocks order). */
    public float[] restParams() { return rest; }

    /** This device's model shard of block l after the last step ({@link ParamLayout#blockShard} order). */
    public float[] blockParams(int l) { return blocks[l]; }

    @Override public void close() {
        model.close();
        inputs.close();
    }
}
