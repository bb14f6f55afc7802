package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.backend.cpu.CpuBackend;
import vit22b.io.WriteFailures;

/** A disk that fills up while a run writes: a one-line error, every earlier checkpoint and metric intact. */
class DiskFullTest {

    @Test void aCheckpointSaveOnAFullDiskKeepsTheEarlierOnes(@TempDir Path dir) throws Exception {
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 2, null, 0)) {
            Checkpoints ck = new Checkpoints(dir, 3);
            r.trainer().run(TrainerTest.data(0, -1));
            Path good = ck.save(r.model(), r.opt(), "2", Map.of());
            byte[] before = Files.readAllBytes(good);
            r.opt().setStep(3);
            IOException e;
            try (AutoCloseable full = WriteFailures.diskFullAfter(before.length / 2)) {   // runs out half way
                e = assertThrows(IOException.class, () -> ck.save(r.model(), r.opt(), "3", Map.of()));
            }
            String m = e.getMessage();
            assertTrue(m.contains("ckpt-000000003") && m.contains("the disk is full") && m.contains("--resume")
                    && !m.contains("\n"), m);
            assertEquals(List.of(2L), ck.steps());
            assertArrayEquals(before, Files.readAllBytes(good), "the earlier checkpoint changed");
            assertEquals(2, Checkpoints.load(good).step(), "the earlier checkpoint no longer loads");
            try (Stream<Path> s = Files.list(dir)) {
                assertFalse(s.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "a temporary file was left");
            }
        }
    }

    @Test void aMetricsWriteOnAFullDiskIsAOneLineErrorKeepingEarlierRows(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("metrics.jsonl");
        try (MetricsWriter w = new MetricsWriter(f, false)) {
            w.write(Map.of("step", 1, "loss", 2.5));
            try (AutoCloseable full = WriteFailures.diskFullAfter(0)) {
                var e = assertThrows(UncheckedIOException.class, () -> w.write(Map.of("step", 2, "loss", 2.25)));
                assertTrue(e.getMessage().contains("metrics.jsonl") && e.getMessage().contains("the disk is full")
                        && !e.getMessage().contains("\n"), e.getMessage());
            }
        }
        var rows = MetricsWriter.read(f);
        assertEquals(1, rows.size());
        assertEquals(1, ((Number) rows.getFirst().get("step")).intValue());
    }

    @Test void anAtomicConfigWriteOnAFullDiskKeepsThePreviousFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("config.json");
        RunFolder.writeAtomically(f, "{\"a\":1}".getBytes());
        try (AutoCloseable full = WriteFailures.diskFullAfter(3)) {
            var e = assertThrows(IOException.class, () -> RunFolder.writeAtomically(f, "{\"a\":2}".getBytes()));
            assertTrue(e.getMessage().contains("the disk is full"), e.getMessage());
        }
        assertEquals("{\"a\":1}", Files.readString(f));
    }
}
