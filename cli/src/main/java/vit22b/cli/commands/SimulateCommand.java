package vit22b.cli.commands;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import vit22b.cli.options.JsonOption;
import vit22b.graph.Mesh;
import vit22b.mesh.sim.Chip;
import vit22b.mesh.sim.Simulation;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;

@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = "Predict a training step on a t x k (data x model) mesh of chips from hardware facts: "
                + "step time, tokens/s per chip, MFU, exposed communication, memory per chip.")
public final class SimulateCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Model preset, e.g. vit-22b, vit-e.")
    String model;

    @Option(names = "--chips", required = true, description = "Number of chips.")
    int chips;

    @Option(names = "--chip", defaultValue = "tpuv4", description = "tpuv4, h100 or h200.")
    String chip;

    @Option(names = "--mesh", description = "TxK (data x model) (default: search the best mesh that fits).")
    String mesh;

    @Option(names = "--batch", defaultValue = "65536", description = "Global batch in images.")
    int batch;

    @Option(names = "--no-overlap", description = "No collective matmul, no prefetch: every transfer blocks compute.")
    boolean noOverlap;

    @Mixin JsonOption json;

    @Spec CommandSpec spec;

    /** The paper's measured MFU and tokens/s per chip (Dehghani et al. 2023, section 3) on TPU v4. */
    private static final Map<String, double[]> PAPER = Map.of(
            "vit-22b", new double[]{0.549, 1150},
            "vit-e", new double[]{0.440, Double.NaN});

    @Override public Integer call() throws Exception {
        ModelConfig c = Presets.get(model);
        Chip hw = Chip.named(chip);
        if (chips <= 0) throw new IllegalArgumentException("--chips must be positive");
        Simulation.Result r;
        if (mesh == null) {
            r = Simulation.search(c, hw, chips, batch, !noOverlap);
        } else {
            Mesh m = Mesh.parse(mesh);
            if (m.devices() != chips)
                throw new IllegalArgumentException("mesh " + m + " has " + m.devices() + " devices but --chips is " + chips
                        + "; use a mesh whose T x K equals " + chips);
            r = Simulation.run(c, hw, m, batch, !noOverlap);
        }
        double[] paper = hw == Chip.TPUV4 ? PAPER.get(c.name()) : null;
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("model", r.model());
            o.put("chip", hw.name());
            o.put("chips", chips);
            o.put("mesh", r.mesh().toString());
            o.put("mesh_searched", mesh == null);
            o.put("batch", r.batch());
            o.put("overlap", r.overlap());
            o.put("recompute", r.remat());
            o.put("topology", r.topology().toString());
            o.put("step_s", r.stepSeconds());
            o.put("compute_s", r.computeSeconds());
            o.put("exposed_comm_s", r.exposedCommSeconds());
            o.put("tokens_per_s_per_chip", r.tokensPerSecondPerChip());
            o.put("mfu", r.mfu());
            o.put("memory_gib_per_chip", r.memory().total() / GIB);
            if (paper != null) {
                o.put("paper_mfu", paper[0]);
                if (!Double.isNaN(paper[1])) o.put("paper_tokens_per_s_per_chip", paper[1]);
            }
            JsonOption.print(out, o);
            return 0;
        }
        out.printf(Locale.ROOT, "model %s, %d x %s, batch %d, mesh %s%s, overlap %s, recompute %s%n", r.model(), chips,
                hw.name(), r.batch(), r.mesh(), mesh == null ? " (best found)" : "", r.overlap() ? "on" : "off",
                r.remat() ? "on" : "off");
        out.printf(Locale.ROOT, "topology           %s%n", r.topology());
        out.printf(Locale.ROOT, "step time          %.3f s%n", r.stepSeconds());
        out.printf(Locale.ROOT, "compute time       %.3f s%n", r.computeSeconds());
        out.printf(Locale.ROOT, "exposed comm       %.3f s%n", r.exposedCommSeconds());
        out.printf(Locale.ROOT, "tokens/s per chip  %.0f%n", r.tokensPerSecondPerChip());
        out.printf(Locale.ROOT, "MFU                %.1f%%%n", 100 * r.mfu());
        out.printf(Locale.ROOT, "memory per chip    %.2f GiB (state %.2f, weights %.2f, activations %.2f) of %.1f GiB%n",
                r.memory().total() / GIB, r.memory().state() / GIB, r.memory().weights() / GIB,
                r.memory().activations() / GIB, hw.hbmBytes() / GIB);
        if (paper != null)
            out.printf(Locale.ROOT, "paper (TPU v4)     MFU %.1f%%%s%n", 100 * paper[0],
                    Double.isNaN(paper[1]) ? "" : String.format(Locale.ROOT, ", %.0f tokens/s per chip", paper[1]));
        return 0;
    }

    private static final double GIB = 1024.0 * 1024 * 1024;
}
