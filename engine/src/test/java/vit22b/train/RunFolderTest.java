package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.backend.cpu.CpuBackend;

/** The run folder's lock, leftovers of killed saves, metrics on resume, damaged checkpoints, divergence messages. */
class RunFolderTest {

    @Test void aSecondWriterInThisJvmIsRefused(@TempDir Path dir) throws IOException {
        try (RunFolder f = RunFolder.open(dir)) {
            var e = assertThrows(IllegalStateException.class, () -> RunFolder.open(dir));
            assertTrue(e.getMessage().contains("in use by process " + ProcessHandle.current().pid()), e.getMessage());
        }
        RunFolder.open(dir).close();   // released on close
    }

    @Test void aSecondProcessIsRefusedNamingTheHoldersPid(@TempDir Path dir) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), HoldRunFolder.class.getName(), dir.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", in.readLine());
            var e = assertThrows(IllegalStateException.class, () -> RunFolder.open(dir));
            assertTrue(e.getMessage().contains("in use by process " + p.pid()), e.getMessage());
        } finally {
            p.getOutputStream().close();
            p.waitFor();
        }
        RunFolder.open(dir).close();   // the holder is gone, and with it the lock
    }

    @Test void temporariesOfKilledSavesAreRemovedAtStart(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve(".ckpt-000000004.safetensors.8812.tmp"), new byte[4096]);
        Files.write(dir.resolve(".metrics.jsonl.1.tmp"), new byte[3]);
        Files.write(dir.resolve("notes.tmp"), new byte[3]);   // not ours: kept
        try (RunFolder f = RunFolder.open(dir)) {
            assertEquals(2, f.removedTemporaries().size(), f.removedTemporaries().toString());
        }
        try (var s = Files.list(dir)) {
            assertEquals(List.of("notes.tmp"), s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList());
        }
    }

    @Test void metricsAreCutBackToTheCheckpointAndATornLastLineIsDropped(@TempDir Path dir) throws IOException {
        Path m = dir.resolve("metrics.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int s = 1; s <= 7; s++) sb.append("{\"step\":").append(s).append(",\"loss\":").append(1.0 / s).append("}\n");
        sb.append("{\"step\":7,\"test_accuracy\":0.5}\n{\"step\":8,\"lo");   // killed mid-line
        Files.writeString(m, sb);
        assertEquals(7, MetricsWriter.read(m).size() - 1, "reading tolerates the torn last line");
        assertEquals(4, MetricsWriter.cutBack(m, 5, false));   // 6, 7, test row at 7, the torn line
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L), MetricsWriter.read(m).stream().map(r -> ((Number) r.get("step")).longValue()).toList());
        Files.writeString(m, "{\"step\":1,\"loss\":1}\n{\"step\":1,\"test_accuracy\":0.2}\n");
        assertEquals(1, MetricsWriter.cutBack(m, 1, true), "the final test row is written again when the run is finished again");
        Files.writeString(m, "{\"step\":1,\"loss\":1}\nnot json\n{\"step\":2,\"loss\":1}\n");
        var e = assertThrows(IOException.class, () -> MetricsWriter.read(m));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test void aDamagedNewestCheckpointFallsBackToThePreviousOne(@TempDir Path dir) throws IOException {
        Checkpoints ck = new Checkpoints(dir, 5);
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 6, ck, 2)) {
            r.trainer().run(TrainerTest.data(0, -1));
        }
        assertEquals(List.of(2L, 4L, 6L), ck.steps());
        // newest cut short (a disk that filled up), the one before with one flipped bit in its data
        byte[] six = Files.readAllBytes(ck.file(6));
        Files.write(ck.file(6), java.util.Arrays.copyOf(six, six.length / 2));
        byte[] four = Files.readAllBytes(ck.file(4));
        four[four.length - 100] ^= 0x10;
        Files.write(ck.file(4), four);
        StringBuilder said = new StringBuilder();
        Checkpoints.State st = ck.loadNewestGood(s -> said.append(s).append('\n')).orElseThrow();
        assertEquals(2, st.step());
        assertTrue(said.toString().contains("ckpt-000000006.safetensors is damaged"), said.toString());
        assertTrue(said.toString().contains("CRC-32C"), said.toString());
        assertTrue(Files.exists(dir.resolve("ckpt-000000006.safetensors.damaged")));
        assertEquals(List.of(2L), ck.steps());
    }

    @Test void divergenceWithoutACheckpointDoesNotClaimOne(@TempDir Path dir) throws IOException {
        Checkpoints ck = new Checkpoints(dir, 2);
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 6, ck, 4)) {
            var e = assertThrows(TrainingDivergedException.class, () -> r.trainer().run(TrainerTest.data(0, 2)));
            assertTrue(e.getMessage().contains("no checkpoint was written yet"), e.getMessage());
            assertFalse(e.getMessage().contains("previous checkpoint") || e.getMessage().contains("--resume"), e.getMessage());
        }
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 6, ck, 2)) {
            var e = assertThrows(TrainingDivergedException.class, () -> r.trainer().run(TrainerTest.data(0, 4)));
            assertTrue(e.getMessage().contains("last good checkpoint is " + ck.file(4)) && e.getMessage().contains("--resume"),
                    e.getMessage());
        }
    }

    @Test void aRunAlreadyAtItsLastStepHasNothingLeftToTrain(@TempDir Path dir) throws IOException {
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 3, null, 0)) {
            r.opt().setStep(3);
            var res = r.trainer().run(TrainerTest.data(3, -1));
            assertEquals(List.of(), res.losses());
            assertEquals(3, res.step());
            r.opt().setStep(4);
            var e = assertThrows(IllegalArgumentException.class, () -> r.trainer().run(TrainerTest.data(4, -1)));
            assertTrue(e.getMessage().contains("--steps 4 or more"), e.getMessage());
        }
    }

    @Test void aStopRequestEndsAfterTheStepWithACheckpoint(@TempDir Path dir) throws IOException {
        Checkpoints ck = new Checkpoints(dir, 2);
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 6, ck, 0)) {
            SyntheticBatches d = TrainerTest.data(0, -1);
            BatchSource stopAfterTwo = new BatchSource() {
                int n;
                @Override public Batch next() throws IOException { if (++n == 2) r.trainer().requestStop(); return d.next(); }
                @Override public String position() { return d.position(); }
                @Override public long imagesSeen() { return d.imagesSeen(); }
                @Override public double epoch() { return d.epoch(); }
                @Override public void close() {}
            };
            var res = r.trainer().run(stopAfterTwo);
            assertTrue(res.stopped());
            assertEquals(2, res.step());
            assertEquals(List.of(2L), ck.steps());
        }
    }
}
