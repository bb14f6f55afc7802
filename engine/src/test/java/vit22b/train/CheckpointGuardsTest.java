package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.backend.cpu.CpuBackend;

/** What a save must never do: write a non-finite state, or delete the file it just wrote. */
class CheckpointGuardsTest {

    @Test void aNonFiniteStateIsNeverWritten(@TempDir Path dir) throws IOException {
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 2, null, 0)) {
            Checkpoints ck = new Checkpoints(dir, 3);
            r.trainer().run(TrainerTest.data(0, -1));
            Path good = ck.save(r.model(), r.opt(), "2", Map.of());
            byte[] before = Files.readAllBytes(good);

            float[] p = be.download(r.model().params());
            p[p.length / 2] = Float.POSITIVE_INFINITY;
            be.upload(r.model().params(), p);
            var ex = assertThrows(TrainingDivergedException.class, () -> ck.save(r.model(), r.opt(), "2", Map.of()));
            assertTrue(ex.getMessage().contains("parameters hold Infinity"), ex.getMessage());
            assertArrayEquals(before, Files.readAllBytes(good), "the good checkpoint was changed");
            assertEquals(List.of(2L), ck.steps());
        }
    }

    @Test void aSaveNeverPrunesItselfBehindNewerCheckpoints(@TempDir Path dir) throws IOException {
        try (CpuBackend be = new CpuBackend(); TrainerTest.Run r = TrainerTest.run(be, 2, null, 0)) {
            Checkpoints ck = new Checkpoints(dir, 1);
            r.trainer().run(TrainerTest.data(0, -1));
            r.opt().setStep(50);
            ck.save(r.model(), r.opt(), "50", Map.of());   // an older, longer run's checkpoint
            r.opt().setStep(2);
            Path f = ck.save(r.model(), r.opt(), "2", Map.of());
            assertTrue(Files.exists(f), "the checkpoint just written was deleted");
        }
    }
}
