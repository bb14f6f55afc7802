package vit22b.mesh.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Mesh;
import vit22b.mesh.MeshTraining;
import vit22b.mesh.ShardedViT;
import vit22b.model.Buffers;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;
import vit22b.train.AdamW;

/**
 * A mesh spanning JVMs: one process per rank, started like a torchrun job on loopback, finds
 * the others through the rendezvous and trains two steps over TCP; every rank's losses and
 * parameters equal the unsharded step on one device (ViT + AdamW) within 1e-5.
 */
public class MultiProcessTest {
    static final long SEED = 20261129;

    /** What every worker trains: clipping on (the norm is above 0.5), body and head decay differ. */
    public static MeshTraining.Setup setup() {
        return new MeshTraining.Setup(Presets.get("test-small"), 4, 2, SEED, 1e-2f,
                new AdamW.Config(0.9f, 0.95f, 1e-3f, 0.1f, 0.3f, 0.5f), true);
    }

    @ParameterizedTest
    @ValueSource(strings = {"1x2", "2x2"})
    void processesOnLoopbackTrainLikeOneDevice(String meshName, @TempDir Path dir) throws Exception {
        Mesh mesh = Mesh.parse(meshName);
        System.out.println("multi-process " + mesh + ": seed " + SEED);
        runJob(MeshWorker.class, mesh, dir, 90);
        try (CpuBackend be = new CpuBackend()) {
            assertLikeOneDevice(be, mesh, dir, 1e-5);
        }
    }

    /**
     * Starts one JVM of {@code main} per rank of {@code mesh}, launched like torchrun on loopback
     * (argument: the mesh and the rank's output file, dir/rankN.out), and waits for all to exit 0.
     */
    public static void runJob(Class<?> main, Mesh mesh, Path dir, int timeoutSeconds) throws Exception {
        int port = freePort();
        List<Process> procs = new ArrayList<>();
        try {
            for (int r = 0; r < mesh.devices(); r++) procs.add(worker(main, mesh, r, port, dir));
            for (int r = 0; r < procs.size(); r++) {
                Process p = procs.get(r);
                assertTrue(p.waitFor(timeoutSeconds, TimeUnit.SECONDS), "rank " + r + " did not finish in " + timeoutSeconds + " s");
                assertEquals(0, p.exitValue(), "rank " + r + " failed: " + Files.readString(dir.resolve("rank" + r + ".log")));
            }
        } finally {
            procs.forEach(Process::destroyForcibly);
        }
    }

    /**
     * Every rank's losses and parameters (dir/rankN.out, written by {@link MeshWorker#writeResults})
     * equal {@link #setup}'s two unsharded steps on {@code be} (ViT + AdamW) within {@code tol}.
     */
    public static void assertLikeOneDevice(Backend be, Mesh mesh, Path dir, double tol) throws IOException {
        MeshTraining.Setup s = setup();
        ModelConfig c = s.model();
        ParamLayout layout = new ParamLayout(c);
        double[] refLoss = new double[s.steps()];
        float[] ref;
        try (ViT vit = new ViT(be, c); Buffers buf = new Buffers(be);
             AdamW opt = new AdamW(be, vit, s.opt())) {
            be.upload(vit.params(), MeshTraining.initialParams(c, s.seed()));
            Tensor images = buf.get(s.batch(), c.channels(), c.imageSize(), c.imageSize()), targets = buf.get(s.batch(), c.classes());
            for (int st = 0; st < s.steps(); st++) {
                float[][] b = MeshTraining.batch(s, st);
                be.upload(images, b[0]);
                be.upload(targets, b[1]);
                refLoss[st] = vit.forwardBackward(images, targets);
                double norm = opt.step(s.lr());
                if (st == 0) assertTrue(norm > 2 * s.opt().clipNorm(), "the test must exercise clipping: norm " + norm);
            }
            ref = be.download(vit.params());
        }
        float[] refRest = ParamLayout.withoutBlocks(c).extract(layout, ref);
        for (int r = 0; r < mesh.devices(); r++) {
            try (DataInputStream in = new DataInputStream(Files.newInputStream(dir.resolve("rank" + r + ".out")))) {
                for (int st = 0; st < s.steps(); st++) {
                    double l = in.readDouble();
                    assertEquals(0, Math.abs(l - refLoss[st]) / refLoss[st], tol, "rank " + r + " loss of step " + st + ": " + l + " vs " + refLoss[st]);
                }
                Check.assertClose("rank " + r + ": parameters outside the blocks after two steps", read(in), Check.toDouble(refRest), tol);
                for (int l = 0; l < c.depth(); l++) {
                    Check.assertClose("rank " + r + ": block " + l + " after two steps", read(in),
                            Check.toDouble(ParamLayout.blockShard(c, mesh.model()).extractShard(ref, l, mesh.modelIndex(r))), tol);
                }
            }
        }
    }

    @Test void aMissingRankFailsTheRendezvousWithinItsTimeoutNamingIt() throws Exception {
        int port = freePort();
        LaunchEnv master = LaunchEnv.from(Map.of("RANK", "0", "WORLD_SIZE", "3", "MASTER_ADDR", "127.0.0.1",
                "MASTER_PORT", Integer.toString(port)));
        LaunchEnv one = new LaunchEnv(1, 3, 1, "127.0.0.1", port, "torchrun");
        // Rank 1 joins, rank 2 never starts.
        Thread joiner = Thread.ofPlatform().start(() -> {
            try {
                Rendezvous.meet(one, 1, new byte[0], Duration.ofSeconds(2));
            } catch (IllegalStateException expected) {
                // rank 0 tells rank 1 the rendezvous failed; the master's error is what is checked
            }
        });
        long t0 = System.nanoTime();
        var e = assertThrows(IllegalStateException.class, () -> Rendezvous.meet(master, 1, new byte[0], Duration.ofSeconds(2)));
        double took = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("rank 2 of 3 did not join"), e.getMessage());
        assertTrue(took < 4, "failed after " + took + " s with a 2 s timeout");
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
        joiner.join(5000);
    }

    /** Every rank learns every listener and rank 0's payload (NCCL's unique id travels this way). */
    @Test void theRendezvousDeliversAddressesAndRankZerosPayload() throws Exception {
        int port = freePort();
        long seed = System.nanoTime();
        byte[] id = new byte[128];
        new java.util.Random(seed).nextBytes(id);
        System.out.println("payload seed " + seed);
        Rendezvous.Result[] got = new Rendezvous.Result[3];
        List<Thread> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            int rank = r;
            ranks.add(Thread.ofPlatform().start(() -> got[rank] = Rendezvous.meet(
                    new LaunchEnv(rank, 3, rank, "127.0.0.1", port, "torchrun"), 40000 + rank,
                    rank == 0 ? id : new byte[0], Duration.ofSeconds(10))));
        }
        for (Thread t : ranks) t.join(15_000);
        for (int r = 0; r < 3; r++) {
            assertTrue(got[r] != null, "rank " + r + " finished the rendezvous");
            org.junit.jupiter.api.Assertions.assertArrayEquals(id, got[r].payload(), "rank " + r + "'s payload");
            for (int q = 0; q < 3; q++)
                assertEquals(new Rendezvous.Peer("127.0.0.1", 40000 + q), got[r].peers().get(q), "rank " + r + " sees rank " + q);
        }
    }

    @Test void aRankWithoutItsMasterFailsWithinItsTimeout() {
        int port = freePort();
        long t0 = System.nanoTime();
        var e = assertThrows(IllegalStateException.class,
                () -> Rendezvous.meet(new LaunchEnv(1, 2, 1, "127.0.0.1", port, "torchrun"), 1, new byte[0], Duration.ofSeconds(1)));
        assertTrue(e.getMessage().contains("rank 1 could not reach the rendezvous at 127.0.0.1:" + port), e.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 3);
    }

    @Test void aMasterPortInUseIsNamed() throws IOException {
        try (ServerSocket taken = new ServerSocket(0)) {
            LaunchEnv master = new LaunchEnv(0, 2, 0, "127.0.0.1", taken.getLocalPort(), "torchrun");
            var e = assertThrows(IllegalArgumentException.class, () -> Rendezvous.meet(master, 1, new byte[0], Duration.ofSeconds(1)));
            assertTrue(e.getMessage().contains("MASTER_PORT " + taken.getLocalPort() + " is in use"), e.getMessage());
        }
    }

    @Test void ranksDisagreeingOnTheWorldSizeAreRefused() throws Exception {
        int port = freePort();
        var other = new java.util.concurrent.atomic.AtomicReference<String>();
        Thread joiner = Thread.ofPlatform().start(() -> {
            try {
                Rendezvous.meet(new LaunchEnv(1, 3, 1, "127.0.0.1", port, "torchrun"), 1, new byte[0], Duration.ofSeconds(5));
            } catch (IllegalStateException e) {
                other.set(e.getMessage());
            }
        });
        var e = assertThrows(IllegalStateException.class,
                () -> Rendezvous.meet(new LaunchEnv(0, 2, 0, "127.0.0.1", port, "torchrun"), 1, new byte[0], Duration.ofSeconds(5)));
        joiner.join(10_000);
        assertTrue(e.getMessage().contains("rank 1 has WORLD_SIZE 3 but rank 0 has 2"), e.getMessage());
        assertEquals(e.getMessage(), other.get(), "rank 1 is told the same");
    }

    private static Process worker(Class<?> main, Mesh mesh, int rank, int port, Path dir) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx512m", "-cp", System.getProperty("java.class.path"), main.getName(), mesh.toString(),
                dir.resolve("rank" + rank + ".out").toString());
        Map<String, String> env = pb.environment();
        env.put("RANK", Integer.toString(rank));
        env.put("LOCAL_RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", Integer.toString(mesh.devices()));
        env.put("MASTER_ADDR", "127.0.0.1");
        env.put("MASTER_PORT", Integer.toString(port));
        pb.redirectErrorStream(true).redirectOutput(dir.resolve("rank" + rank + ".log").toFile());
        return pb.start();
    }

    private static float[] read(DataInputStream in) throws IOException {
        float[] a = new float[in.readInt()];
        for (int i = 0; i < a.length; i++) a[i] = in.readFloat();
        return a;
    }

    /** A port free a moment ago (the OS picks it). */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
