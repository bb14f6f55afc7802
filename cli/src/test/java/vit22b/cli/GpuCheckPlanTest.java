package vit22b.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.model.ModelStats;
import vit22b.model.Presets;

/**
 * The GPU check (bench/gpu/run-all.sh) as far as it can be checked without a GPU, since a GPU
 * session gets one call to run it: its dry run lists every default stage with its budget and
 * command, plans within its budget and leaves at most the 8 files the device returns; every class,
 * test class and script those commands name exists in the repository; a bad argument is a usage
 * error; and torch_step.py's FLOP count (its MFU) equals ModelStats' for the models it times.
 */
class GpuCheckPlanTest {
    static final Path ROOT = Path.of("..");
    static final List<String> DEFAULT_STAGES = List.of("env", "op-tests", "gpu-tests", "gemm-bf16", "attn-bf16", "step-bench",
            "torch-step", "forward-22b", "ncu");
    @TempDir Path dir;

    record Run(int code, String out) {}

    static Run run(Map<String, String> env, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + String.join(" ", cmd));
        return new Run(p.exitValue(), out);
    }

    @Test void dryRunPlansEveryStageWithinItsBudget() throws Exception {
        Path out = dir.resolve("out");
        Run r = run(Map.of("OUT", out.toAbsolutePath().toString()), "bash", "bench/gpu/run-all.sh", "--dry-run");
        System.out.println(r.out());
        assertEquals(0, r.code(), r.out());
        String summary = Files.readString(out.resolve("summary.txt"));
        for (String s : DEFAULT_STAGES)
            assertTrue(Pattern.compile("(?m)^" + Pattern.quote(s) + " +skipped: no GPU \\(--dry-run\\); budget ").matcher(summary).find(),
                    "stage " + s + " missing from the dry run's summary");
        Matcher plan = Pattern.compile("planned (\\d+)s for the stages with a fixed budget, of (\\d+)s").matcher(summary);
        assertTrue(plan.find(), summary);
        assertTrue(Integer.parseInt(plan.group(1)) <= Integer.parseInt(plan.group(2)), plan.group());
        try (Stream<Path> files = Files.list(out)) {
            assertTrue(files.count() <= 8, "more files than the device returns");
        }
        checkCommandsNameWhatExists(summary);
    }

    /** Each "would run" line's classes (vit22b.*), GpuTestMain's test classes and bench/ scripts exist. */
    static void checkCommandsNameWhatExists(String summary) throws IOException {
        List<String> missing = new ArrayList<>();
        int checked = 0;
        for (String line : summary.lines().filter(l -> l.contains("would run:")).toList()) {
            Matcher cls = Pattern.compile("\\bvit22b(\\.\\w+)+").matcher(line);
            while (cls.find()) {
                checked++;
                if (source(cls.group()) == null) missing.add(cls.group());
            }
            int at = line.indexOf("GpuTestMain");
            if (at >= 0)
                for (String t : line.substring(at + "GpuTestMain".length()).trim().split("\\s+")) {
                    String name = t.replaceFirst("^!", "");
                    if (name.isEmpty()) continue;
                    checked++;
                    if (source(name.contains(".") ? name : "vit22b.backend.cuda." + name) == null) missing.add(t);
                }
            Matcher script = Pattern.compile("\\bbench/gpu/[\\w.-]+").matcher(line);
            while (script.find()) {
                checked++;
                if (!Files.isRegularFile(ROOT.resolve(script.group()))) missing.add(script.group());
            }
        }
        assertTrue(checked > 10, "the dry run named only " + checked + " things");
        assertTrue(missing.isEmpty(), "the GPU check names what the repository lacks: " + missing);
    }

    /** The source file of a fully qualified class in any module, or null. */
    static Path source(String qualified) throws IOException {
        String rel = qualified.replace('.', '/') + ".java";
        try (Stream<Path> modules = Files.list(ROOT)) {
            for (Path m : modules.toList())
                for (String set : List.of("main", "test")) {
                    Path p = m.resolve("src").resolve(set).resolve("java").resolve(rel);
                    if (Files.isRegularFile(p)) return p;
                }
        }
        return null;
    }

    @Test void badArgumentsAreUsageErrors() throws Exception {
        Map<String, String> env = Map.of("OUT", dir.resolve("out").toAbsolutePath().toString());
        Run r = run(env, "bash", "bench/gpu/run-all.sh", "--dry-run", "--only", "env,nosuch");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains("unknown stage 'nosuch'") && r.out().lines().count() == 1, r.out());
        r = run(env, "bash", "bench/gpu/run-all.sh", "--fast");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains("unknown argument '--fast'"), r.out());
    }

    @Test void torchStepCountsTheFlopsModelStatsCounts() throws Exception {
        Run r;
        try {
            r = run(Map.of(), "python3", "bench/gpu/torch_step.py", "--flops-only");
        } catch (IOException e) {
            Assumptions.assumeTrue(false, "no python3: " + e.getMessage());
            return;
        }
        System.out.println(r.out());
        assertEquals(0, r.code(), r.out());
        Map<String, Long> want = Map.of(
                "vit-22b-width-3blocks", ModelStats.of(Presets.get("vit-22b").withDepth(3).withClasses(1000)).flops().trainingPerImage(),
                "vit-b16-224", ModelStats.of(Presets.get("vit-b")).flops().trainingPerImage());
        for (var e : want.entrySet()) {
            Matcher m = Pattern.compile("flops " + Pattern.quote(e.getKey()) + ": train_flops_per_image (\\d+)").matcher(r.out());
            assertTrue(m.find(), e.getKey() + " missing: " + r.out());
            assertEquals(e.getValue(), Long.parseLong(m.group(1)), e.getKey() + ": python's count against ModelStats'");
        }
        assertTrue(r.out().contains("FLOP formula"), "torch_step.py prints its formula");
    }
}
