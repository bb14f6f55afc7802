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
}
