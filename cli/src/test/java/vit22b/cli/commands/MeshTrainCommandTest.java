package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.ObjectMapper;

import vit22b.cli.Main;

class MeshTrainCommandTest {
    @Test void trainsOnAMeshOfThreadsAndWritesATrace(@TempDir Path dir) throws Exception {
        StringWriter buf = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(buf));
        Path trace = dir.resolve("t.json");
        int rc = cl.execute("mesh-train", "--mesh", "2x2", "--steps", "2", "--trace", trace.toString());
        String out = buf.toString();
        assertEquals(0, rc, out);
        assertTrue(out.contains("step 2  loss") && out.contains("device 3: communication"), out);
        assertTrue(new ObjectMapper().readTree(Files.readString(trace)).get("traceEvents").size() > 100, "trace events");
    }

    /** Every rank on the one emulated CUDA device: the same losses as the mesh of CPU threads, and a trace. */
    @Test void trainsEveryRankOnOneEmulatedCudaDevice(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(vit22b.kernels.emu.EmuLibrary.built(), "no emulated device (no g++)");
        String[] common = {"mesh-train", "--mesh", "1x2", "--model", "test-tiny", "--batch", "4", "--steps", "2"};
        StringWriter cpu = new StringWriter(), emu = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(cpu));
        assertEquals(0, cl.execute(common), cpu.toString());
        Path trace = dir.resolve("emu.json");
        cl = Main.commandLine();
        cl.setOut(new PrintWriter(emu));
        String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(common),
                java.util.stream.Stream.of("--backend", "cuda-emu", "--trace", trace.toString())).toArray(String[]::new);
        assertEquals(0, cl.execute(args), emu.toString());
        String out = emu.toString();
        assertTrue(out.contains("on one CUDA device (emulated CUDA device") && out.contains("device 1: communication")
                && out.contains("not GPU timings"), out);
        double[] a = losses(cpu.toString()), b = losses(out);
        for (int i = 0; i < 2; i++)
            assertEquals(a[i], b[i], 1e-4 * Math.abs(a[i]), "step " + (i + 1) + " loss, CPU threads vs one emulated device");
        var doc = new ObjectMapper().readTree(Files.readString(trace));
        assertTrue(doc.get("traceEvents").size() > 50 && doc.get("otherData").get("times").asText().contains("emulated"), "trace");
    }

    private static double[] losses(String out) {
        return out.lines().filter(l -> l.startsWith("step ")).mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).toArray();
    }

    @Test void anUnknownBackendIsAUsageError() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("mesh-train", "--mesh", "1x2", "--backend", "nonsense");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("backend 'nonsense' has no CUDA device; use cuda, cuda-emu or cuda-emu-hopper"), err.toString());
    }

    @Test void aMeshThatCannotShardTheModelIsAUsageError() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("mesh-train", "--mesh", "1x3");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("model axis 3 does not divide the 4 heads"), err.toString());
    }

    /** cuda-emu puts every rank in one JVM: a launcher's rank variables make it a usage error naming the alternatives. */
    @Test void cudaEmuUnderTorchrunIsAUsageError(@TempDir Path dir) throws Exception {
        Process p = rankZero(dir, "cuda-emu");
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "mesh-train did not finish");
        String out = Files.readString(dir.resolve("rank0.log"));
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains("use --backend cuda (one GPU per process, NCCL) or cpu (TCP)"), out);
    }

    /**
     * A one-rank torchrun-style job with --backend cuda: trains on GPU 0 over NCCL where both are
     * present; elsewhere fails with exit 1 and one line saying what is missing, not a stack trace.
     */
    @Test void aCudaRankUnderTorchrunTrainsOrSaysWhatIsMissing(@TempDir Path dir) throws Exception {
        Process p = rankZero(dir, "cuda");
        assertTrue(p.waitFor(240, TimeUnit.SECONDS), "mesh-train did not finish");
        String out = Files.readString(dir.resolve("rank0.log"));
        if (p.exitValue() == 0) {
            assertTrue(out.contains("over NCCL") && out.contains("step 2  loss"), out);
        } else {
            assertEquals(1, p.exitValue(), out);
            assertTrue(out.lines().filter(l -> !l.isBlank() && !l.startsWith("WARNING")).count() == 1
                    && (out.contains("NCCL") || out.contains("GPU") || out.contains("CUDA")), "one line naming what is missing: " + out);
            System.out.println("without GPU/NCCL: " + out.strip());
        }
    }

    /** `vit mesh-train --mesh 1x1 --backend BACKEND` as rank 0 of a one-process torchrun-style job; output in dir/rank0.log. */
    private static Process rankZero(Path dir, String backend) throws IOException {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "mesh-train", "--mesh", "1x1", "--backend", backend,
                "--timeout", "30");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("rank0.log").toFile());
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        pb.environment().putAll(Map.of("RANK", "0", "WORLD_SIZE", "1", "LOCAL_RANK", "0",
                "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", Integer.toString(port)));
        return pb.start();
    }
}
