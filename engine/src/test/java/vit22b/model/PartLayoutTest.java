package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.backend.cpu.CpuBackend;

/**
 * The inference-only model's layout arithmetic at sizes past 2^31 parameters, without allocating
 * anything: every full-layout entry is found in exactly one part, the parts tile the model, and
 * a block too large for one buffer is refused in one line.
 */
class PartLayoutTest {

    /** Each full-layout entry maps to a part entry of the same shape; each part's entries are covered once, in order. */
    private static void checkTiles(PartLayout p) {
        ParamLayout full = p.full();
        long[] covered = new long[p.parts()];
        long prevEnd = 0;
        for (ParamLayout.Entry e : full.entries()) {
            assertEquals(prevEnd, e.offset(), "full offsets are contiguous longs at " + e.name());
            prevEnd = e.offset() + e.size();
            PartLayout.Place at = p.place(e.name());
            assertArrayEquals(e.shape(), at.entry().shape(), e.name());
            assertEquals(covered[at.part()], at.entry().offset(), "part " + at.part() + " offsets follow its order at " + e.name());
            covered[at.part()] += e.size();
        }
        assertEquals(full.total(), prevEnd);
        long sum = 0;
        for (int i = 0; i < p.parts(); i++) {
            assertEquals(p.elements(i), covered[i], "part " + i + " is covered exactly");
            sum += p.elements(i);
        }
        assertEquals(full.total(), sum);
        assertEquals(full.total(), p.total());
    }

    @Test void vit22bSplitsIntoBuffersThatFit() {
        PartLayout p = PartLayout.of(Presets.get("vit-22b")).requireFits();
        assertTrue(p.total() > Integer.MAX_VALUE, "ViT-22B is past 2^31 parameters: " + p.total());
        assertEquals(49, p.parts());
        assertEquals(453_021_952L, p.block().total(), "one ViT-22B block (Table 1)");
        assertTrue(p.largest() <= Integer.MAX_VALUE);
        checkTiles(p);
        // the last block's last entry sits past 2^31 in the full layout and at its own offset in its part
        PartLayout.Place at = p.place("blocks.47.out_proj.bias");
        assertEquals(48, at.part());
        assertTrue(p.full().entry("blocks.47.out_proj.bias").offset() > Integer.MAX_VALUE);
        assertEquals(p.block().total() - 6144, at.entry().offset());
    }

    @Test void syntheticHugeModelIsAcceptedByTheArithmetic() {
        // 400 blocks of D 8192, MLP 32768: ~322e9 parameters, 150 times 2^31
        ModelConfig c = new ModelConfig("huge", 8192, 400, 32768, 64, 16, 224, 3, 21843, NormKind.RMS, GeluKind.TANH,
                LossKind.SIGMOID, 0f);
        PartLayout p = PartLayout.of(c).requireFits();
        System.out.println("synthetic huge model: " + p.total() + " parameters in " + p.parts() + " parts, largest " + p.largest());
        assertTrue(p.total() > 100L * Integer.MAX_VALUE);
        long block = 8192L * (32768 + 3 * 8192) + 32768 + 2 * 128 + 8192L * (8192 + 32768) + 8192 + 8192;
        assertEquals(block, p.block().total(), "one block by hand: W_in, b_mlp, q/k scales, W_out, b_out, norm");
        checkTiles(p);
        // the training model keeps its one-buffer limit, refused before any allocation
        try (CpuBackend cpu = new CpuBackend()) {
            var e = assertThrows(IllegalArgumentException.class, () -> new ViT(cpu, c));
            assertTrue(e.getMessage().contains("2^31-1"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    @Test void aBlockPastOneBufferIsRefused() {
        ModelConfig c = new ModelConfig("too-wide", 24576, 2, 98304, 96, 16, 224, 3, 0, NormKind.RMS, GeluKind.TANH,
                LossKind.SIGMOID, 0f);
        var e = assertThrows(IllegalArgumentException.class, () -> PartLayout.of(c).requireFits());
        System.out.println(e.getMessage());
        assertTrue(e.getMessage().contains("too-wide") && e.getMessage().contains("2^31-1"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test void unknownNamesAreRefused() {
        PartLayout p = PartLayout.of(Presets.get("test-tiny"));
        assertThrows(IllegalArgumentException.class, () -> p.place("blocks.9.in_proj.weight"));
        assertThrows(IllegalArgumentException.class, () -> p.place("nope"));
    }
}
