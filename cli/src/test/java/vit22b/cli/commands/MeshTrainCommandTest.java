package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

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

    @Test void aMeshThatCannotShardTheModelIsAUsageError() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("mesh-train", "--mesh", "1x3");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("model axis 3 does not divide the 4 heads"), err.toString());
    }

    @Test void cudaInOneProcessIsAUsageErrorSayingHowToLaunch() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("mesh-train", "--mesh", "1x2", "--backend", "cuda");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("launch one process per GPU with torchrun/srun and --backend cuda"), err.toString());
    }

    /**
     * A one-rank torchrun-style job with --backend cuda: trains on GPU 0 over NCCL where both are
     * present; elsewhere fails with exit 1 and one line saying what is missing, not a stack trace.
     */
    @Test void aCudaRankUnderTorchrunTrainsOrSaysWhatIsMissing(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("rank0.log");
        java.util.List<String> cmd = java.util.List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "mesh-train", "--mesh", "1x1", "--backend", "cuda",
                "--timeout", "30");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        pb.environment().putAll(java.util.Map.of("RANK", "0", "WORLD_SIZE", "1", "LOCAL_RANK", "0",
                "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", Integer.toString(port)));
        Process p = pb.start();
        assertTrue(p.waitFor(240, java.util.concurrent.TimeUnit.SECONDS), "mesh-train did not finish");
        String out = Files.readString(log);
        if (p.exitValue() == 0) {
            assertTrue(out.contains("over NCCL") && out.contains("step 2  loss"), out);
        } else {
            assertEquals(1, p.exitValue(), out);
            assertTrue(out.lines().filter(l -> !l.isBlank() && !l.startsWith("WARNING")).count() == 1
                    && (out.contains("NCCL") || out.contains("GPU") || out.contains("CUDA")), "one line naming what is missing: " + out);
            System.out.println("without GPU/NCCL: " + out.strip());
        }
    }
}
