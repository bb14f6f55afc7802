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
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.model.ViT;

class TrainerTest {
    static final ModelConfig TINY = Presets.get("test-tiny");   // 8x8x3 images, 5 classes
    static final int BATCH = 8;

    record Run(ViT model, AdamW opt, Trainer trainer) implements AutoCloseable {
        @Override public void close() { opt.close(); model.close(); }
    }

    static Run run(CpuBackend be, long steps, Checkpoints ckpts, int ckptEvery) {
        ViT model = new ViT(be, TINY);
        Init.init(be, model.layout(), model.params(), 42);
        AdamW opt = new AdamW(be, model,
                new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 3.0f, 1.0f));
        var s = new Trainer.Settings(steps, BATCH, LrSchedule.of("rsqrt", 3e-3, steps, Math.min(2, steps - 1), Math.min(2, steps)), 1, 0, ckptEvery, 16);
        return new Run(model, opt, new Trainer(model, opt, s, ckpts, null, null, null, Map.of("vit22b.seed", "7")));
    }

    static SyntheticBatches data(long position, long nanAt) {
        return new SyntheticBatches(BATCH, 3, 8, 5, 7, position, nanAt);
    }

    @Test void resumeEqualsUninterruptedBitForBit(@TempDir Path dir) throws IOException {
        try (CpuBackend be = new CpuBackend()) {
            List<Double> full;
            try (Run a = run(be, 6, null, 0)) { full = a.trainer().run(data(0, -1)).losses(); }

            Checkpoints ck = new Checkpoints(dir, 2);
            try (Run b = run(be, 6, ck, 3)) {
                // Interrupted after step 3: run to 3 with a 3-step schedule would change the lr, so
                // run the 6-step schedule and stop by taking the step-3 checkpoint.
                b.trainer().run(data(0, -1));
            }
            assertEquals(List.of(3L, 6L), ck.steps());
            Checkpoints.State st = Checkpoints.load(ck.file(3));
            assertEquals(3, st.step());
            assertEquals("3", st.dataPosition());
            try (Run c = run(be, 6, null, 0)) {
                st.restore(c.model(), c.opt());
                List<Double> resumed = c.trainer().run(data(Long.parseLong(st.dataPosition()), -1)).losses();
                assertEquals(3, resumed.size());
                for (int i = 0; i < 3; i++)
                    assertEquals(Double.doubleToRawLongBits(full.get(3 + i)), Double.doubleToRawLongBits(resumed.get(i)),
                            "step " + (4 + i) + ": " + full.get(3 + i) + " vs " + resumed.get(i));
                assertArrayEquals(Checkpoints.load(ck.file(6)).params(), be.download(c.model().params()));
            }
        }
    }

    @Test void nanLossStopsAndKeepsTheLastGoodCheckpoint(@TempDir Path dir) throws IOException {
        try (CpuBackend be = new CpuBackend(); Run r = run(be, 8, new Checkpoints(dir, 3), 2)) {
            var e = assertThrows(TrainingDivergedException.class, () -> r.trainer().run(data(0, 4)));  // 5th batch
            assertTrue(e.getMessage().contains("at step 5") && e.getMessage().contains("ckpt-000000004"), e.getMessage());
            assertEquals(4, r.opt().step(), "the bad step must not be applied");
            Checkpoints ck = new Checkpoints(dir, 3);
            assertEquals(List.of(2L, 4L), ck.steps());
            Checkpoints.State st = Checkpoints.load(ck.latest().orElseThrow());
            assertArrayEquals(st.params(), be.download(r.model().params()));
        }
    }

    @Test void corruptOrTruncatedCheckpointsAreRefusedClearly(@TempDir Path dir) throws IOException {
        Checkpoints ck = new Checkpoints(dir, 5);
        try (CpuBackend be = new CpuBackend(); Run r = run(be, 2, ck, 1)) { r.trainer().run(data(0, -1)); }
        Path good = ck.file(2);
        byte[] bytes = Files.readAllBytes(good);
        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        var e1 = assertThrows(IOException.class, () -> Checkpoints.load(truncated));
        assertTrue(e1.getMessage().contains("truncated.safetensors"), e1.getMessage());
        Path garbage = dir.resolve("garbage.safetensors");
        byte[] g = bytes.clone();
        for (int i = 0; i < 8; i++) g[i] = (byte) 0x7f;   // absurd header length
        Files.write(garbage, g);
        var e2 = assertThrows(IOException.class, () -> Checkpoints.load(garbage));
        assertTrue(e2.getMessage().contains("garbage.safetensors"), e2.getMessage());
        assertEquals(2, Checkpoints.load(good).step());
    }

    @Test void aFailedSaveLeavesThePreviousCheckpointLoadable(@TempDir Path dir) throws IOException {
        Checkpoints ck = new Checkpoints(dir, 1);
        try (CpuBackend be = new CpuBackend(); Run r = run(be, 4, ck, 2)) {
            // Block the step-4 file: a non-empty directory cannot be replaced by the rename.
            Files.createDirectories(ck.file(4).resolve("x"));
            assertThrows(IOException.class, () -> r.trainer().run(data(0, -1)));
            assertEquals(List.of(2L), ck.steps(), "keep=1 must not prune before a save succeeds");
            // A process killed mid-save leaves at most a partial temp file: it is not a checkpoint.
            Files.write(dir.resolve(".ckpt-000000004.safetensors.123.tmp"), new byte[] {1, 2, 3});
            assertEquals(ck.file(2), ck.latest().orElseThrow());
            assertEquals(2, Checkpoints.load(ck.file(2)).step());
            try (var files = Files.list(dir)) {
                assertEquals(1, files.filter(p -> p.getFileName().toString().endsWith(".tmp")).count(),
                        "the failed save must remove its own temp file");
            }
        }
    }

    @Test void learnsTheSyntheticBands() throws IOException {
        try (CpuBackend be = new CpuBackend(); Run r = run(be, 100, null, 0)) {
            SyntheticBatches d = data(0, -1);
            var evalSet = d.evalSet(100);
            var s = new Trainer.Settings(100, BATCH, LrSchedule.of("rsqrt", 1e-2, 100, 10, 20), 10, 50, 0, 50);
            var res = new Trainer(r.model(), r.opt(), s, null, null, null, evalSet, Map.of()).run(d);
            assertTrue(res.lastEval().accuracy() > 0.8, "accuracy " + res.lastEval().accuracy());
            assertTrue(res.losses().getLast() < res.losses().getFirst() * 0.6, "loss " + res.losses());
        }
    }
}
