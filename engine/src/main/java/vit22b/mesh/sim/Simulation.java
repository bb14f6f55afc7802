package vit22b.mesh.sim;

import java.util.ArrayList;
import java.util.List;

import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.mesh.ShardedViT;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.ParamLayout;
import vit22b.model.Shard;

/**
 * Predicts one training step of a model on {@code chips} chips: builds the step's task graph
 * for a mesh, runs it on the simulator, and accounts memory per chip. Without a mesh, tries
 * every t x k that shards the model and fits in memory and keeps the one with the best MFU.
 */
public final class Simulation {
    private Simulation() {}

    /** Bytes per chip: sharded fp32 state (master, grad, Adam m and v), gathered bf16 weights, activations. */
    public record Memory(double state, double weights, double activations) {
        public double total() { return state + weights + activations; }
    }

    public record Result(String model, Chip chip, Mesh mesh, int batch, boolean overlap, boolean remat,
                         Topology topology, double stepSeconds, double computeSeconds, double exposedCommSeconds,
                         double tokensPerSecondPerChip, double mfu, Memory memory) {}

    public static Result run(ModelConfig c, Chip chip, Mesh mesh, int batch, boolean overlap) {
        Shard.check(c, mesh, batch);
        Memory full = memory(c, chip, mesh, batch, false);
        boolean remat = full.total() > chip.hbmBytes();
        Memory mem = remat ? memory(c, chip, mesh, batch, true) : full;
        if (mem.total() > chip.hbmBytes())
            throw new IllegalArgumentException(String.format(
                    "model '%s' with batch %d on mesh %s does not fit: %.1f GiB per chip even with recomputation, %s has %.1f GiB; "
                            + "use more chips, a larger model axis or a smaller batch",
                    c.name(), batch, mesh, mem.total() / GIB, chip.name(), chip.hbmBytes() / GIB));
        CostModel cm = CostModel.of(chip, mesh);
        Simulator.Timeline tl = Simulator.run(graph(c, mesh, batch, overlap, remat), cm);
        int chips = mesh.devices();
        double tokens = (double) batch * c.tokens();
        double mfu = 3.0 * ModelStats.forwardFlopsPerImage(c) * batch / (tl.step() * chips * chip.peakFlops());
        return new Result(c.name(), chip, mesh, batch, overlap, remat, cm.topology(), tl.step(), tl.compute(),
                tl.exposed(), tokens / tl.step() / chips, mfu, mem);
    }

    /** Bytes of one activation or weight element in the simulated step: bf16 (gradients are reduced in fp32). */
    static final int BF16 = 2, FP32 = 4;

    /** The step's task graph as the executors build it ({@link ShardedViT#plan}), with bf16 costs. */
    public static TaskGraph graph(ModelConfig c, Mesh mesh, int batch, boolean overlap, boolean remat) {
        return ShardedViT.plan(c, mesh, batch, overlap, remat, BF16);
    }

    /** The best-MFU mesh of {@code chips} chips that shards the model and fits; refuses when none does. */
    public static Result search(ModelConfig c, Chip chip, int chips, int batch, boolean overlap) {
        Result best = null;
        List<String> why = new ArrayList<>();
        for (int k = 1; k <= chips; k++) {
            if (chips % k != 0) continue;
            Mesh m = new Mesh(chips / k, k);
            try {
                Result r = run(c, chip, m, batch, overlap);
                if (best == null || r.mfu() > best.mfu()) best = r;
            } catch (IllegalArgumentException e) {
                why.add(e.getMessage());
            }
        }
        if (best == null)
            throw new IllegalArgumentException("no mesh of " + chips + " chips works: " + String.join("; ", why));
        return best;
    }

    private static final double GIB = 1024.0 * 1024 * 1024;

    static Memory memory(ModelConfig c, Chip chip, Mesh mesh, int batch, boolean remat) {
        int t = mesh.data(), k = mesh.model();
        double params = new ParamLayout(c).total();
        double state = params * 16 / (t * k);
        double layer = ParamLayout.blockShard(c, k).total();
        // Two layers of gathered bf16 weights (current and prefetched) and one fp32 layer gradient.
        double weights = t == 1 ? 0 : 2 * layer * BF16 + layer * FP32;
        double rows = (double) batch / t * c.tokens(), r = rows / k;
        double d = c.width(), ml = (double) c.mlp() / k, dl = d / k, hl = (double) c.heads() / k, n = c.tokens();
        // Saved for backward per block (bf16): block input (local rows), gathered normalised input,
        // in-projection output, GELU output, normalised q, k and v, attention output, softmax probabilities.
        double saved = BF16 * (r * d + rows * d + rows * (ml + 3 * dl) + rows * ml + rows * 3 * dl + rows * dl
                + (double) batch / t * hl * n * n);
        double blockInput = BF16 * r * d;
        // Backward needs one block's worth of activation gradients besides what is saved.
        double acts = remat ? c.depth() * blockInput + 2 * saved : (c.depth() + 1) * saved;
        return new Memory(state, weights, acts);
    }
}
