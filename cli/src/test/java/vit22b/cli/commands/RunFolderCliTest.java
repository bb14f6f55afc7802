package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;

import com.fasterxml.jackson.databind.JsonNode;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run folder is the run: train in child JVMs that are signalled or killed, then resumed from
 * the folder alone. A small model on a generated IDX dataset, so that nothing needs installing.
 */
class RunFolderCliTest {
    static String[] args(Path data, Path out, int steps, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--model", "test-tiny", "--data", data.toString(),
                "--steps", Integer.toString(steps), "--batch", "8", "--warmup", "5", "--cooldown", "20", "--lr", "3e-3",
                "--ckpt-every", "3", "--keep", "2", "--eval-every", "0", "--eval-limit", "32", "--test-limit", "32",
                "--log-every", "1", "--workers", "1", "--out", out.toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static String log(Path f) throws Exception { return Files.exists(f) ? Files.readString(f) : "(no log)"; }

    /** Issue 12's check: SIGTERM writes a checkpoint, --resume RUN_DIR alone finishes, --steps extends, each step logged once. */
    @Test void sigtermThenResumeWithTheFolderAloneThenExtend(@TempDir Path tmp) throws Exception {
        Path data = TrainProcess.idx(tmp.resolve("data"), 600, 40, 7), run = tmp.resolve("run"), log = tmp.resolve("log.txt");
        Process p = TrainProcess.start(log, args(data, run, 3000));
        Path metrics = run.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while ((!Files.exists(metrics) || Files.readAllLines(metrics).size() < 30) && System.nanoTime() < deadline && p.isAlive())
            Thread.sleep(50);
        p.destroy();   // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(143, p.exitValue(), log(log));
        String first = log(log);
        assertTrue(first.contains("stopped by SIGTERM at step"), first);
        long stoppedAt = Long.parseLong(first.replaceAll("(?s).*stopped by SIGTERM at step (\\d+).*", "$1"));
        assertTrue(Files.exists(run.resolve(String.format("ckpt-%09d.safetensors", stoppedAt))), first);

        // --resume RUN_DIR and nothing else: config.json gives the rest; shorten the run to end soon
        assertEquals(0, TrainProcess.run(log, "train", "--resume", run.toString(), "--steps", Long.toString(stoppedAt + 6),
                "--warmup", "5", "--cooldown", "2"), log(log));
        assertEquals(LongStream.rangeClosed(1, stoppedAt + 6).boxed().toList(), TrainProcess.trainingSteps(metrics), log(log));
        // extend the finished run, at a lower learning rate (as after a divergence): allowed and recorded
        assertEquals(0, TrainProcess.run(log, "train", "--resume", run.toString(), "--steps", Long.toString(stoppedAt + 10),
                "--lr", "1e-3"), log(log));
        assertEquals(LongStream.rangeClosed(1, stoppedAt + 10).boxed().toList(), TrainProcess.trainingSteps(metrics), log(log));
        var event = vit22b.train.MetricsWriter.read(metrics).stream().filter(row -> "resume".equals(row.get("event"))).toList().getLast();
        assertEquals(stoppedAt + 6, ((Number) event.get("step")).longValue(), event.toString());
        assertEquals(List.of(0.003, 0.001), ((java.util.Map<?, ?>) event.get("changed")).get("lr"), event.toString());
        JsonNode cfg = RunConfig.read(run.resolve("config.json"));
        assertEquals(1e-3, cfg.get("lr").asDouble());
        assertEquals(stoppedAt + 10, cfg.get("steps").asLong());
        assertEquals(2, cfg.get("cooldown").asLong());
        assertEquals("test-tiny", cfg.get("model").asText());

        // the config round-trips: a new run from it resolves to the same recipe
        Path copy = tmp.resolve("copy");
        assertEquals(0, TrainProcess.run(log, "train", "--config", run.resolve("config.json").toString(), "--out", copy.toString(),
                "--steps", "4", "--warmup", "1", "--cooldown", "1"), log(log));
        JsonNode again = RunConfig.read(copy.resolve("config.json"));
        assertEquals(List.of(), RunConfig.differences(cfg, again, java.util.Set.of("out", "steps", "warmup", "cooldown")));
    }

    /**
     * kill -9 at random moments, saves included (a checkpoint every 3 steps), then resume until
     * the run ends: the final weights equal an uninterrupted run's bit for bit.
     */
    @Test void killNineAnywhereThenResumeEqualsAnUninterruptedRun(@TempDir Path tmp) throws Exception {
        long seed = System.nanoTime();
        System.out.println("RunFolderCliTest kill seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        int steps = 150;
        Path data = TrainProcess.idx(tmp.resolve("data"), 600, 40, 11), log = tmp.resolve("log.txt");
        Path whole = tmp.resolve("whole"), killed = tmp.resolve("killed");
        long t0 = System.nanoTime();
        assertEquals(0, TrainProcess.run(log, args(data, whole, steps)), log(log));
        double wholeSeconds = (System.nanoTime() - t0) / 1e9;

        int kills = 0;
        for (int attempt = 0; attempt < 40; attempt++) {
            boolean hasCkpt = Files.isDirectory(killed) && new vit22b.train.Checkpoints(killed, 1).latest().isPresent();
            Process p = hasCkpt ? TrainProcess.start(log, "train", "--resume", killed.toString())
                    : TrainProcess.start(log, args(data, killed, steps));
            // within 70% of a whole run's time, so that at least the first (full-length) run is killed
            long waitMs = kills < 6 ? (long) ((0.05 + 0.65 * r.nextDouble()) * wholeSeconds * 1000) : 600_000;
            if (!p.waitFor(waitMs, TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();   // SIGKILL
                p.waitFor();
                kills++;
                continue;
            }
            assertEquals(0, p.exitValue(), log(log));
            break;
        }
        System.out.printf("uninterrupted run %.1f s; %d kills%n", wholeSeconds, kills);
        assertTrue(kills >= 1, "no kill happened: the test proved nothing (seed " + seed + ")");
        assertTrue(Files.exists(killed.resolve("model.safetensors")), log(log));
        assertEquals(TrainProcess.bits(whole.resolve("model.safetensors")), TrainProcess.bits(killed.resolve("model.safetensors")),
                "weights after kills and resumes differ from the uninterrupted run's (seed " + seed + ")");
        assertEquals(LongStream.rangeClosed(1, steps).boxed().toList(), TrainProcess.trainingSteps(killed.resolve("metrics.jsonl")));
        try (var s = Files.list(killed)) {
            assertEquals(List.of(), s.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList(),
                    "temporaries of killed saves are removed by the next run");
        }
    }
}
