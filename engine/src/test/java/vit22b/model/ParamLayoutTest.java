package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ParamLayoutTest {
    @Test void vit22bBlockHasThePapersParameterCount() {
        ParamLayout l = new ParamLayout(Presets.get("vit-22b"));
        long block = 0;
        for (var e : l.entries()) if (e.name().startsWith("blocks.0.")) block += e.size();
        assertEquals(453_021_952L, block);
    }

    /** The layout outside the blocks: the full layout's other entries, same order, shapes and groups, packed. */
    @Test void withoutBlocksKeepsEveryOtherEntryInOrder() {
        ModelConfig c = Presets.get("test-small");
        ParamLayout full = new ParamLayout(c), rest = ParamLayout.withoutBlocks(c);
        var others = full.entries().stream().filter(e -> !e.name().startsWith("blocks.")).toList();
        assertEquals(others.size(), rest.entries().size());
        long offset = 0;
        for (int i = 0; i < others.size(); i++) {
            var a = others.get(i);
            var b = rest.entries().get(i);
            assertEquals(a.name(), b.name());
            assertEquals(java.util.Arrays.toString(a.shape()), java.util.Arrays.toString(b.shape()));
            assertEquals(a.decay(), b.decay());
            assertEquals(offset, b.offset(), b.name());
            offset += b.size();
        }
        assertEquals(offset, rest.total());
        assertEquals(full.total() - 2 * full.entries().stream().filter(e -> e.name().startsWith("blocks.0."))
                .mapToLong(ParamLayout.Entry::size).sum(), rest.total());
    }

    @Test void headsThatDoNotDivideTheWidthAreRefused() {
        var ex = assertThrows(IllegalArgumentException.class, () -> new ModelConfig("bad", 100, 2, 400, 3, 4, 8, 3, 5,
                NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, 0f));
        assertEquals(true, ex.getMessage().contains("3 heads do not divide width 100"), ex.getMessage());
    }

    @Test void patchThatDoesNotDivideTheImageIsRefused() {
        var ex = assertThrows(IllegalArgumentException.class, () -> Presets.get("test-tiny").withPatch(3));
        assertEquals(true, ex.getMessage().contains("patch 3 does not divide image size 8"), ex.getMessage());
    }
}
