package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;

import picocli.CommandLine;
import vit22b.cli.Main;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.model.ModelStats;
import vit22b.model.Presets;

class BenchCommandTest {

    private static String[] run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new String[] {String.valueOf(code), out.toString(), err.toString()};
    }

    @Test void jsonHasTheFiguresAndTheyAgree() throws Exception {
        String[] r = run("bench", "--backend", "cpu", "--model", "test-tiny", "--batch", "2", "--steps", "2", "--warmup", "1", "--json");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[2].contains("bench: step 2/2"), "progress goes to stderr: " + r[2]);
        JsonNode j = new ObjectMapper().readTree(r[1]);
        assertEquals(2, j.at("/step_seconds").size());
        double ips = j.at("/images_per_second").asDouble();
        double mean = j.at("/mean_step_seconds").asDouble();
        assertEquals(2 / mean, ips, 1e-9 * ips);
        assertEquals(ips * Presets.get("test-tiny").tokens(), j.at("/tokens_per_second").asDouble(), 1e-9 * ips * 16);
        long flops = ModelStats.of(Presets.get("test-tiny")).flops().trainingPerImage();
        assertEquals(flops * ips / 1e9, j.at("/achieved_gflops").asDouble(), 1e-9);
        double peak = j.at("/sgemm/peak_gflops").asDouble();
        assertEquals(Math.max(j.at("/sgemm/model_shape/gflops").asDouble(), j.at("/sgemm/square_1024/gflops").asDouble()), peak);
        assertEquals(2 * Presets.get("test-tiny").tokens(), j.at("/sgemm/model_shape/m").asInt(), "B*N rows");
        assertEquals(j.at("/achieved_gflops").asDouble() / peak, j.at("/fraction_of_sgemm").asDouble(), 1e-12);
        assertTrue(Double.isFinite(j.at("/last_loss").asDouble()));
        assertTrue(j.at("/machine/cores").asInt() >= 1);
        assertTrue(j.at("/machine/openblas_threads").asInt() >= 1);
        assertTrue(j.at("/machine/java_version").asText().startsWith("2"));
    }

    /**
     * --forward-only: passes of an inference-only model with random weights; images/s and GFLOP/s
     * follow from the pass times and ModelStats' forward FLOPs; the weights' bytes are the compute
     * weights only (no masters). A model past the host's memory is refused in one line, before
     * any allocation.
     */
    @Test void forwardOnlyTimesTheInferenceModel() throws Exception {
        String[] r = run("bench", "--backend", "cpu", "--model", "test-tiny", "--batch", "3", "--steps", "2", "--warmup", "1",
                "--forward-only", "--json");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[2].contains("forward bench: timed pass 2/2"), r[2]);
        JsonNode j = new ObjectMapper().readTree(r[1]);
        assertEquals("forward-only", j.at("/mode").asText());
        assertEquals(2, j.at("/pass_seconds").size());
        double mean = (j.at("/pass_seconds/0").asDouble() + j.at("/pass_seconds/1").asDouble()) / 2;
        double ips = j.at("/images_per_second").asDouble();
        assertEquals(3 / mean, ips, 1e-9 * ips);
        long flops = ModelStats.of(Presets.get("test-tiny")).flops().forwardPerImage();
        assertEquals(flops, j.at("/forward_flops_per_image").asLong());
        assertEquals(flops * ips / 1e9, j.at("/achieved_gflops").asDouble(), 1e-9 * flops * ips / 1e9);
        long params = ModelStats.of(Presets.get("test-tiny")).params().total();
        assertEquals(4 * params, j.at("/weight_bytes").asLong(), "fp32 compute weights only");
        assertTrue(j.at("/mfu").isMissingNode(), "no MFU against a GPU peak on the cpu");
        if (vit22b.tensor.HostStorage.availableBytes() < 80e9) {   // else it would really allocate 88 GB
            String[] big = run("bench", "--backend", "cpu", "--model", "vit-22b", "--batch", "1", "--forward-only");
            assertEquals("1", big[0], big[2]);
            assertTrue(big[2].contains("not enough cpu memory for model 'vit-22b'") && big[2].contains("88.81 GB"), big[2]);
        }
    }

    /**
     * ViT-22B's bf16 weights (44.4 GB) on the emulated device of this machine (its memory is host
     * memory): refused in one line before anything is allocated, naming what they need, what is
     * free and the fix; exit code 1 (a machine with that much memory available would run it).
     */
    @Test void forwardOnlyOfAModelPastTheDeviceIsRefusedInOneLine() {
        if (!vit22b.kernels.emu.EmuLibrary.built() || vit22b.tensor.HostStorage.availableBytes() > 40e9) return;
        String[] r = run("bench", "--backend", "cuda-emu", "--model", "vit-22b", "--batch", "1", "--forward-only", "--precision", "bf16");
        System.out.println(r[2]);
        assertEquals("1", r[0], r[2]);
        String line = r[2].lines().filter(l -> l.contains("not enough")).findFirst().orElse("");
        assertTrue(line.contains("not enough cuda-emu memory for model 'vit-22b': its BF16 weights need 44.4"), r[2]);
        assertTrue(line.contains("GB of cuda-emu memory are free; use a GPU with more free memory"), line);
        assertTrue(!r[2].contains("\tat "), "no stack trace: " + r[2]);
    }

    /**
     * --precision: bf16 runs the bf16 reference on the CPU (said on stderr, recorded in the JSON; the
     * same seed's first loss differs from fp32's by rounding only); on cuda-emu bf16 is the default
     * (no --precision given) and runs the same recipe in bf16 storage on the bf16 kernels (first
     * loss within the whole-step tolerance, 2e-2, of the CPU bf16 reference's), and an unknown
     * precision is a usage error.
     */
    @Test void precisionBf16RunsTheCpuReference() throws Exception {
        String[] common = {"bench", "--backend", "cpu", "--model", "test-tiny", "--batch", "2", "--steps", "1", "--warmup", "1",
            "--seed", "5", "--json"};
        String[] b = run(concat(common, "--precision", "bf16")), f = run(common);
        assertEquals("0", b[0], b[2]);
        assertTrue(b[2].contains("precision: bf16"), b[2]);
        JsonNode jb = new ObjectMapper().readTree(b[1]), jf = new ObjectMapper().readTree(f[1]);
        assertEquals("bf16", jb.at("/precision").asText());
        assertEquals("fp32", jf.at("/precision").asText());
        double lb = jb.at("/first_loss").asDouble(), lf = jf.at("/first_loss").asDouble();
        assertTrue(lb != lf && Math.abs(lb - lf) < 1e-2 * lf, "bf16 " + lb + " vs fp32 " + lf);
        String[] cuda = run(concat(common, "--backend", "cuda-emu"));
        if (EmuLibrary.built()) {
            assertEquals("0", cuda[0], cuda[2]);
            assertTrue(cuda[2].contains("precision: bf16 (bf16 activations and compute weights in 2-byte storage"), cuda[2]);
            JsonNode jc = new ObjectMapper().readTree(cuda[1]);
            assertEquals("bf16", jc.at("/precision").asText());
            assertEquals("cuda-emu", jc.at("/backend").asText());
            double lc = jc.at("/first_loss").asDouble();
            assertTrue(Math.abs(lc - lb) < 2e-2 * lb, "bf16 cuda-emu " + lc + " vs bf16 cpu " + lb);
        }
        String[] bad = run("bench", "--model", "test-tiny", "--batch", "1", "--precision", "fp16");
        assertEquals("2", bad[0]);
        assertTrue(bad[2].contains("unknown precision 'fp16'; use fp32 or bf16"), bad[2]);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** On a GPU host the steps run on cuda (no sgemm reference); elsewhere a one-line error, exit 1. */
    @Test void cudaRunsOrSaysWhyNot() throws Exception {
        String[] r = run("bench", "--backend", "cuda", "--model", "test-tiny", "--batch", "2", "--steps", "1",
                "--warmup", "0", "--json");
        if (r[0].equals("0")) {
            JsonNode j = new ObjectMapper().readTree(r[1]);
            assertEquals("cuda", j.at("/backend").asText());
            assertTrue(j.at("/sgemm").isMissingNode() && j.at("/images_per_second").asDouble() > 0, r[1]);
            assertTrue(r[2].contains("bench/gpu/run-all.sh"), r[2]);
        } else {
            assertEquals("1", r[0], r[2]);
            assertTrue(r[2].contains("error: ") && !r[2].contains("\tat "), r[2]);
        }
    }

    /**
     * The emulated device benches (slow: defaults 2 steps after 1 warm-up) with a warning that its
     * timings are no GPU's and no GFLOP/s; its first loss agrees with the cpu's on the same seed.
     */
    @Test void emulatorRunsWithAWarningAndNoGflops() throws Exception {
        String[] r = run("bench", "--backend", "cuda-emu", "--model", "test-tiny", "--batch", "1", "--seed", "3", "--json");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[2].contains("not GPU timings"), r[2]);
        JsonNode j = new ObjectMapper().readTree(r[1]);
        assertEquals("cuda-emu", j.at("/backend").asText());
        assertEquals(2, j.at("/step_seconds").size(), "default steps on the emulator");
        assertEquals(1, j.at("/warmup_steps").asInt(), "default warm-up on the emulator");
        assertTrue(j.at("/emulated").asBoolean() && j.at("/warning").asText().contains("not GPU timings"), r[1]);
        assertTrue(j.at("/achieved_gflops").isMissingNode() && j.at("/sgemm").isMissingNode(), r[1]);
        assertTrue(j.at("/images_per_second").asDouble() > 0, r[1]);

        String[] text = run("bench", "--backend", "cuda-emu", "--model", "test-tiny", "--batch", "1", "--seed", "3",
                "--steps", "1", "--warmup", "0");
        String[] cpu = run("bench", "--backend", "cpu", "--model", "test-tiny", "--batch", "1", "--seed", "3",
                "--steps", "1", "--warmup", "0", "--json");
        assertEquals("0", text[0], text[2]);
        assertTrue(text[1].contains("not GPU timings") && !text[1].contains("model GFLOP/s"), text[1]);
        double emuLoss = Double.parseDouble(text[1].replaceAll("(?s).*loss\\s+(\\S+) ->.*", "$1"));
        double cpuLoss = new ObjectMapper().readTree(cpu[1]).at("/first_loss").asDouble();
        assertEquals(cpuLoss, emuLoss, 1e-3 * Math.abs(cpuLoss), "seed 3: the emulator's first loss vs the cpu's");
    }

    @Test void badBatchIsRefused() {
        String[] r = run("bench", "--model", "test-tiny", "--batch", "0");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("--batch and --steps must be positive"), r[2]);
    }
}
