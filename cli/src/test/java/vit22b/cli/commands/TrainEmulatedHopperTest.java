package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.cli.Fixtures;
import vit22b.kernels.emu.EmuLibrary;

/**
 * {@code vit train --backend cuda-emu-hopper}: the whole engine on the emulated device as a Hopper
 * (bf16 by default: the bf16 GEMMs on gemm_bf16_wgmma, said on stderr) trains what the CPU's bf16
 * reference trains: each step's loss within DESIGN.md's whole-step bound (2e-2 relative) of the
 * reference's from the same seed and data.
 */
class TrainEmulatedHopperTest {
    @Test void trainsLikeTheCpuBf16Reference(@TempDir Path tmp) throws Exception {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        Path data = TrainProcess.idx(tmp.resolve("data"), 32, 16, 17);
        long t0 = System.nanoTime();
        Fixtures.Run emu = Fixtures.vit(TrainMeshTest.args(data, tmp.resolve("emu"), "--backend", "cuda-emu-hopper"));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, emu.code(), emu.out() + emu.err());
        String log = emu.out() + emu.err();
        assertTrue(log.contains("backend: cuda-emu-hopper (our CUDA kernels on emulated CUDA device as a Hopper"), log);
        assertTrue(log.contains("bf16 GEMMs: gemm_bf16_wgmma (TMA + wgmma, sm_90a) on emulated CUDA device as a Hopper"), log);
        Fixtures.Run cpu = Fixtures.vit(TrainMeshTest.args(data, tmp.resolve("cpu"), "--precision", "bf16"));
        assertEquals(0, cpu.code(), cpu.out() + cpu.err());
        List<Double> e = losses(tmp.resolve("emu")), c = losses(tmp.resolve("cpu"));
        System.out.printf("train --backend cuda-emu-hopper (%.1f s) vs cpu bf16: losses %s vs %s%n", seconds, e, c);
        assertEquals(2, e.size());
        assertEquals(c.size(), e.size());
        for (int i = 0; i < e.size(); i++)
            assertEquals(c.get(i), e.get(i), 2e-2 * Math.abs(c.get(i)), "loss of step " + (i + 1));
    }

    /** The training losses of a run folder's metrics, step by step. */
    private static List<Double> losses(Path run) throws Exception {
        ObjectMapper m = new ObjectMapper();
        return Files.readAllLines(run.resolve("metrics.jsonl")).stream().map(l -> {
            try {
                return m.readTree(l);
            } catch (Exception ex) {
                throw new AssertionError(l, ex);
            }
        }).filter(r -> r.has("loss") && r.has("step")).map(r -> r.get("loss").asDouble()).toList();
    }
}
