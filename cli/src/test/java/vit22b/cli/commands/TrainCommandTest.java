package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.cli.Main;

/** End to end through the command line, on a few hundred Fashion-MNIST images (skipped without it). */
class TrainCommandTest {

    record Out(int code, String out, String err) {}

    static Out vit(String... args) {
        PrintStream old = System.out;
        var buf = new ByteArrayOutputStream();
        var err = new StringWriter();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            var cl = Main.commandLine();
            cl.setOut(new PrintWriter(new java.io.OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
            cl.setErr(new PrintWriter(err, true));
            int code = cl.execute(args);
            return new Out(code, buf.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    @Test void trainThenEvalProbeFewshotAndResumeChecks(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(DataPaths.FASHION_MNIST), "Fashion-MNIST is not installed");
        String out = dir.resolve("run").toString();
        String[] common = {"train", "--model", "vit-micro-fmnist", "--data", "fashion-mnist", "--train-limit", "512",
                "--steps", "8", "--batch", "32", "--warmup", "2", "--cooldown", "2", "--lr", "2e-3", "--min-crop-area", "0.5",
                "--ckpt-every", "4", "--keep", "1", "--eval-every", "4", "--eval-limit", "100", "--test-limit", "100",
                "--log-every", "2", "--workers", "1", "--out", out, "--tensorboard"};
        Out t = vit(common);
        assertEquals(0, t.code(), t.out() + t.err());
        Out again = vit(common);   // a fresh run must not mix with (and prune) this run's checkpoints
        assertEquals(2, again.code(), again.out() + again.err());
        assertTrue(again.err().contains("already holds checkpoints") && again.err().contains("--resume"), again.err());
        assertTrue(t.out().contains("test accuracy") && t.out().contains("metrics.jsonl"), t.out());
        assertTrue(Files.readAllLines(Path.of(out, "metrics.csv")).getFirst().startsWith("step,time,epoch,images_seen,loss"));
        try (var s = Files.list(Path.of(out))) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith("events.out.tfevents.")), "--tensorboard");
        }
        for (String f : new String[] {"metrics.jsonl", "loss.png", "accuracy.png", "model.safetensors", "ckpt-000000008.safetensors"})
            assertTrue(Files.exists(Path.of(out, f)), f + " missing; wrote: " + t.out());
        assertTrue(!Files.exists(Path.of(out, "ckpt-000000004.safetensors")), "--keep 1 keeps only the newest");
        assertTrue(Files.readAllLines(Path.of(out, "metrics.jsonl")).getFirst().contains("attn_max_abs_logit"));

        String[] other = common.clone();
        other[java.util.Arrays.asList(other).indexOf("--batch") + 1] = "16";   // --lr may change on resume, --batch not
        String[] resumed = java.util.Arrays.copyOf(other, other.length + 1);
        resumed[other.length] = "--resume";
        Out r = vit(resumed);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("other settings") && r.err().contains("batch (saved 32, now 16)"), r.err());

        String ckpt = Path.of(out, "ckpt-000000008.safetensors").toString();
        Out e = vit("eval", "--ckpt", ckpt, "--limit", "100");
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("accuracy"), e.out());
        Out p = vit("probe", "--ckpt", Path.of(out, "model.safetensors").toString(), "--train-limit", "200", "--test-limit", "100", "--epochs", "2");
        assertEquals(0, p.code(), p.err());
        assertTrue(p.out().contains("test accuracy"), p.out());
        Out f = vit("fewshot", "--ckpt", ckpt, "--pool", "300", "--test-limit", "100", "--shots", "1,5", "--seeds", "2");
        assertEquals(0, f.code(), f.err());
        assertTrue(f.out().contains(" 5-shot: accuracy") && f.out().contains("±"), f.out());
    }

    /**
     * --json: standard output is exactly one JSON object whose figures agree with the run folder;
     * --norm/--gelu/--loss train a timm-style model (biases, layer norm, exact GELU) that is
     * recorded in config.json and the model file, exports to timm, and a resume with another norm is refused.
     */
    @Test void jsonResultAndModelKinds(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isDirectory(DataPaths.FASHION_MNIST), "Fashion-MNIST is not installed");
        Path run = dir.resolve("run");
        String[] args = {"train", "--model", "vit-micro-fmnist", "--data", "fashion-mnist", "--train-limit", "256",
                "--steps", "4", "--batch", "16", "--eval-every", "0", "--eval-limit", "50", "--test-limit", "100",
                "--log-every", "1", "--workers", "1", "--out", run.toString(), "--json",
                "--biases", "--norm", "layer", "--gelu", "exact", "--loss", "softmax"};
        Out t = vit(args);
        assertEquals(0, t.code(), t.out() + t.err());
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var parser = mapper.getFactory().createParser(t.out());
        com.fasterxml.jackson.databind.JsonNode j = mapper.readTree(parser);
        assertTrue(parser.nextToken() == null, "one JSON object and nothing else on stdout: " + t.out());
        assertTrue(t.err().contains("test accuracy") && t.err().contains("step 4/4"), "text and progress on stderr: " + t.err());
        assertEquals(run.toString(), j.at("/run").asText());
        assertEquals(4, j.at("/steps").asLong());
        var rows = Files.readAllLines(run.resolve("metrics.jsonl")).stream().map(l -> {
            try { return mapper.readTree(l); } catch (Exception e) { throw new AssertionError(l, e); } }).toList();
        var last = rows.stream().filter(r -> r.has("test_accuracy")).reduce((a, b) -> b).orElseThrow();
        assertEquals(last.at("/test_accuracy").asDouble(), j.at("/test_accuracy").asDouble(), 1e-12);
        assertEquals(last.at("/test_loss").asDouble(), j.at("/test_loss").asDouble(), 1e-12);
        var step4 = rows.stream().filter(r -> r.path("step").asLong() == 4 && r.has("loss")).findFirst().orElseThrow();
        assertEquals(step4.at("/loss").asDouble(), j.at("/final_loss").asDouble(), 1e-6 * Math.abs(step4.at("/loss").asDouble()));
        double wall = j.at("/wall_seconds").asDouble();
        assertTrue(wall > 0 && last.at("/train_minutes").asDouble() * 60 <= wall * 1.0001 + 1e-9, j.toString());
        assertEquals(4 * 16 / wall, j.at("/images_per_second").asDouble(), 1e-9 * j.at("/images_per_second").asDouble());
        assertTrue(Files.exists(Path.of(j.at("/model_file").asText())) && Files.exists(Path.of(j.at("/checkpoint").asText())));

        var cfg = mapper.readTree(run.resolve("config.json").toFile());
        assertEquals("layer", cfg.at("/norm").asText());
        assertEquals("exact", cfg.at("/gelu").asText());
        assertEquals("softmax", cfg.at("/loss").asText());
        var model = vit22b.train.Weights.read(run.resolve("model.safetensors")).config();
        assertEquals(vit22b.model.NormKind.LAYER, model.norm());
        assertEquals(vit22b.model.GeluKind.EXACT, model.gelu());
        assertEquals(vit22b.model.LossKind.SOFTMAX, model.loss());
        assertTrue(model.variant().biases());
        Out x = vit("export", "--weights", run.resolve("model.safetensors").toString(), "--timm", dir.resolve("timm").toString());
        assertEquals(0, x.code(), x.out() + x.err());

        Out r = vit("train", "--resume", run.toString(), "--norm", "rms");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("norm (saved \"layer\", now \"rms\")"), r.err());
        Out bad = vit("train", "--data", "fashion-mnist", "--steps", "1", "--norm", "batch", "--out", dir.resolve("b").toString());
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("unknown NormKind 'batch'") && bad.err().contains("rms, layer"), bad.err());
    }

    @Test void badInputGetsAClearError(@TempDir Path dir) {
        Out t = vit("train", "--data", dir.resolve("nope").toString(), "--steps", "1");
        assertEquals(1, t.code());
        assertTrue(t.err().contains("does not exist"), t.err());
        Out g = vit("eval", "--backend", "cuda", "--ckpt", dir.resolve("missing.safetensors").toString());
        assertEquals(1, g.code());   // no GPU here, or no such file on a GPU host: a message either way
        assertTrue(g.err().contains("error: ") && !g.err().contains("\tat "), g.err());
        Out e = vit("eval", "--ckpt", dir.resolve("missing.safetensors").toString());
        assertEquals(1, e.code());
        assertTrue(e.err().contains("error: "), e.err());
    }

    @Test void everyNumericFlagIsRangeChecked(@TempDir Path dir) {
        String[][] bad = {{"--batch", "0"}, {"--steps", "-3"}, {"--epochs", "NaN"}, {"--lr", "Infinity"}, {"--lr", "0"},
                {"--clip", "NaN"}, {"--wd", "-0.1"}, {"--warmup", "-1"}, {"--keep", "0"}, {"--min-crop-area", "1.5"},
                {"--eval-limit", "-2"}, {"--workers", "0"}, {"--head-bias-init", "NaN"}};
        for (String[] b : bad) {
            Out t = vit("train", "--data", dir.toString(), b[0], b[1], "--out", dir.resolve("run").toString());
            assertEquals(2, t.code(), String.join(" ", b) + ": " + t.err());
            assertTrue(t.err().contains(b[0] + " must be") && t.err().contains(b[1]) && t.err().lines().count() == 1,
                    String.join(" ", b) + ": " + t.err());
        }
    }

    /** Labels are positions in the sorted class names: a test/ missing a class would relabel the rest. */
    @Test void aTestSplitNeedsTheTrainingClasses(@TempDir Path dir) throws Exception {
        Path root = vit22b.cli.Fixtures.folderDataset(dir.resolve("data"), 3, 2, 8, 77);
        try (var files = Files.walk(root.resolve("test/c0"))) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        Out t = vit("train", "--data", root.toString(), "--model", "test-tiny", "--steps", "2", "--batch", "2",
                "--warmup", "0", "--cooldown", "0", "--workers", "1", "--out", dir.resolve("run").toString());
        assertEquals(2, t.code(), t.out() + t.err());
        assertTrue(t.err().contains("test split") && t.err().contains("[c1, c2]") && t.err().contains("[c0, c1, c2]"), t.err());
    }
}
