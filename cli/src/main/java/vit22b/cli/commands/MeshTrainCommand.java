package vit22b.cli.commands;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.Backends;
import vit22b.backend.cpu.CpuBackend;
import vit22b.cli.options.BackendOption;
import vit22b.cli.options.MeshOptions;
import vit22b.cli.options.VectorModule;
import vit22b.graph.Mesh;
import vit22b.mesh.MeshTraining;
import vit22b.mesh.Trace;
import vit22b.mesh.device.DeviceMesh;
import vit22b.mesh.nccl.NcclGroup;
import vit22b.mesh.net.ProcessGroup;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.Shard;
import vit22b.train.AdamW;

/**
 * Training steps of the sharded model on a mesh, on seeded random data: CPU devices as threads
 * of this JVM, or one process per device when started by torchrun or srun (the launcher's
 * environment gives the rank): CPU processes over TCP ({@code --backend cpu}), or one GPU per
 * process over NCCL ({@code --backend cuda}, GPU LOCAL_RANK); or, with a CUDA backend in one
 * process, every rank on one CUDA device (its own streams, transfers as device copies:
 * {@link DeviceMesh}). Checks a setup and writes a trace.
 */
@Command(name = "mesh-train", mixinStandardHelpOptions = true,
        description = "Run training steps of the t x k sharded model on seeded random data: on CPU devices (threads of this "
                + "JVM, or one process per device under torchrun/srun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT "
                + "or SLURM_PROCID, ..., linked over TCP); with --backend cuda under torchrun/srun one GPU per process "
                + "(GPU LOCAL_RANK) over NCCL; with --backend cuda or cuda-emu in one process every rank on one CUDA device "
                + "(own streams, transfers as device-to-device copies); print the losses, optionally write a Chrome trace.")
public final class MeshTrainCommand implements Callable<Integer> {

    @Mixin MeshOptions meshOptions;

    @Option(names = "--model", defaultValue = "test-small", description = "Model preset (vit info lists them).")
    String model;

    @Option(names = "--batch", defaultValue = "8", description = "Global batch in images.")
    int batch;

    @Option(names = "--steps", defaultValue = "2", description = "Training steps.")
    int steps;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Learning rate.")
    float lr;

    @Option(names = "--seed", defaultValue = "0", description = "Initialisation and data seed.")
    long seed;

    @Option(names = "--no-overlap", description = "Every transfer on the compute queue: nothing hides behind compute.")
    boolean noOverlap;

    @Option(names = "--timeout", defaultValue = "300", description = "Seconds to wait for every rank at the rendezvous, and "
            + "for a peer's data or a collective during the steps (a rank that hangs or whose host died fails the job then).")
    int timeout;

    @Mixin BackendOption backend;

    @Spec CommandSpec spec;

    @Override public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        boolean cuda = !backend.backend.equalsIgnoreCase("cpu");
        if (!cuda) VectorModule.require();
        Mesh m = meshOptions.parse();
        if (m == null) throw new ParameterException(spec.commandLine(), "Missing required option: '--mesh=TxK'");
        Path trace = meshOptions.trace;
        ModelConfig c = Presets.get(model);
        Shard.check(c, m, batch);
        if (timeout <= 0) throw new IllegalArgumentException("--timeout must be positive, got " + timeout);
        // The paper's AdamW (beta2 0.999 as big_vision's default) with its global-norm clip of 1.
        MeshTraining.Setup s = new MeshTraining.Setup(c, batch, steps, seed, lr,
                new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 3f, 1f), !noOverlap);
        Map<String, String> env = System.getenv();
        boolean processes = env.containsKey("RANK") || env.containsKey("SLURM_PROCID");
        if (cuda && processes && !backend.backend.equalsIgnoreCase("cuda"))
            throw new IllegalArgumentException("--backend " + backend.backend + " runs every rank on one device in this JVM, "
                    + "but the environment names a rank of a multi-process job (RANK or SLURM_PROCID): use --backend cuda "
                    + "(one GPU per process, NCCL) or cpu (TCP), or run mesh-train without torchrun/srun");
        Trace t = trace == null ? null : new Trace();
        long t0 = System.nanoTime();
        double[] losses;
        int rank = 0;
        if (cuda && !processes) {
            try (DeviceMesh dm = new DeviceMesh(m, Backends.device(backend.backend))) {
                out.printf("mesh %s on one CUDA device (%s): %d ranks, each its own compute and communication streams, "
                        + "model %s, batch %d, overlap %s%n", m, dm.device().description(), m.devices(), c.name(), batch, !noOverlap);
                losses = MeshTraining.on(dm, s, t);
            }
        } else if (!processes) {
            out.printf("mesh %s of CPU threads in this JVM, model %s, batch %d, overlap %s%n", m, c.name(), batch, !noOverlap);
            losses = MeshTraining.onThreads(s, m, t);
        } else if (cuda) {
            try (NcclGroup g = NcclGroup.join(m, env, Duration.ofSeconds(timeout));
                 MeshTraining run = new MeshTraining(s, g.backend(), g.comm())) {
                rank = g.env().rank();
                if (rank == 0)
                    out.printf("mesh %s of GPU processes over NCCL (%s, master %s:%d), rank 0 on %s, model %s, batch %d, "
                            + "overlap %s%n", m, g.env().launcher(), g.env().masterAddr(), g.env().masterPort(),
                            g.backend().device().description(), c.name(), batch, !noOverlap);
                run.runAlone(t, () -> g.abort("a task of rank " + g.env().rank() + " failed"));
                losses = run.losses();
            }
        } else {
            try (ProcessGroup pg = ProcessGroup.join(m, env, Duration.ofSeconds(timeout));
                 CpuBackend be = new CpuBackend();
                 MeshTraining run = new MeshTraining(s, be, pg.comm())) {
                rank = pg.env().rank();
                if (rank == 0)
                    out.printf("mesh %s of processes (%s, master %s:%d), model %s, batch %d, overlap %s%n", m,
                            pg.env().launcher(), pg.env().masterAddr(), pg.env().masterPort(), c.name(), batch, !noOverlap);
                run.runAlone(t, pg::close);
                losses = run.losses();
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        if (rank == 0) {
            for (int i = 0; i < losses.length; i++) out.printf("step %d  loss %.6f%n", i + 1, losses[i]);
            out.printf("%d steps in %.2f s (including setup)%n", steps, secs);
        }
        if (t != null) {
            Path file = processes ? perRank(trace, rank) : trace;
            t.write(file);
            int[] ranks = processes ? new int[]{rank} : java.util.stream.IntStream.range(0, m.devices()).toArray();
            for (int r : ranks)
                out.printf("device %d: communication %.3f s, of which exposed %.3f s; compute %.3f s%n", r,
                        t.busy(r, true) / 1e9, t.exposedCommunication(r) / 1e9, t.busy(r, false) / 1e9);
            if (Backends.emulated(backend.backend))
                out.println("(times on the emulated device are when the emulator ran the work on the CPU, not GPU timings)");
            else if (cuda && processes)
                out.println("(times are the host's: when each task's kernels were queued and each transfer was waited for, "
                        + "not GPU timings)");
            out.println("trace written to " + file);
        }
        out.flush();
        return 0;
    }

    /** trace.json -> trace.rank3.json */
    private static Path perRank(Path p, int rank) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        String name = dot > 0 ? n.substring(0, dot) + ".rank" + rank + n.substring(dot) : n + ".rank" + rank;
        return p.resolveSibling(name);
    }
}
