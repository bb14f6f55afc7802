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
