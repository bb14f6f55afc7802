package vit22b.mesh.nccl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.junit.jupiter.api.Test;

import vit22b.graph.Axis;
import vit22b.graph.Mesh;

/**
 * The NCCL ids rank 0 hands out (no NCCL needed): random stand-in ids, each rank decodes its
 * two from the payload; the ranks of one group must agree and different groups must differ.
 */
class NcclIdsTest {
    @ParameterizedTest
    @ValueSource(strings = {"1x1", "1x2", "2x1", "2x2", "1x4", "4x1", "3x4"})
    void everyGroupSharesOneIdAndNoTwoGroupsDo(String name) {
        Mesh m = Mesh.parse(name);
        long seed = System.nanoTime();
        System.out.println("ids seed " + seed);
        Random r = new Random(seed);
        byte[] payload = NcclIds.create(m, () -> {
            byte[] id = new byte[NcclIds.ID_BYTES];
            r.nextBytes(id);
            return id;
        });
        for (Axis a : Axis.values()) {
            Map<String, byte[]> byGroup = new HashMap<>();
            for (int rank = 0; rank < m.devices(); rank++) {
                byte[] id = NcclIds.of(payload, m, a, rank);
                String group = Arrays.toString(m.group(a, rank));
                byte[] seen = byGroup.putIfAbsent(group, id);
                if (seen != null) assertArrayEquals(seen, id, "rank " + rank + " of " + a + " group " + group + " on " + m);
            }
            assertEquals(a == Axis.DATA ? m.model() : m.data(), byGroup.size(), a + " groups on " + m);
            var ids = byGroup.values().stream().map(Arrays::toString).distinct().count();
            assertEquals(byGroup.size(), ids, "distinct ids per " + a + " group on " + m);
        }
        for (int rank = 0; rank < m.devices(); rank++)
            assertNotEquals(Arrays.toString(NcclIds.of(payload, m, Axis.DATA, rank)),
                    Arrays.toString(NcclIds.of(payload, m, Axis.MODEL, rank)), "rank " + rank + "'s two ids on " + m);
    }

    @Test void aRankWithAnotherMeshIsRefusedNamingBoth() {
        byte[] payload = NcclIds.create(new Mesh(4, 1), () -> new byte[NcclIds.ID_BYTES]);
        var e = assertThrows(IllegalStateException.class, () -> NcclIds.of(payload, new Mesh(1, 4), Axis.DATA, 2));
        assertTrue(e.getMessage().contains("rank 0 runs mesh 4x1 but rank 2 was given mesh 1x4"), e.getMessage());
        var none = assertThrows(IllegalStateException.class, () -> NcclIds.of(new byte[0], new Mesh(1, 2), Axis.DATA, 1));
        assertTrue(none.getMessage().contains("--backend cuda"), none.getMessage());
    }

    @Test void gpuOfALocalRank() {
        assertEquals(3, NcclGroup.gpuOrdinal(3, 8), "torchrun: GPU LOCAL_RANK");
        assertEquals(0, NcclGroup.gpuOrdinal(5, 1), "one GPU per task (CUDA_VISIBLE_DEVICES set by Slurm)");
        var e = assertThrows(IllegalArgumentException.class, () -> NcclGroup.gpuOrdinal(4, 4));
        assertTrue(e.getMessage().contains("LOCAL_RANK 4 but only 4 GPUs") && e.getMessage().contains("--nproc-per-node"), e.getMessage());
        var none = assertThrows(IllegalArgumentException.class, () -> NcclGroup.gpuOrdinal(0, 0));
        assertTrue(none.getMessage().contains("no GPU is visible"), none.getMessage());
    }
}
