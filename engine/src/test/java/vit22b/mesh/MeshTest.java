package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import vit22b.graph.Axis;
import vit22b.graph.Mesh;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.Presets;
import vit22b.model.Shard;

class MeshTest {
    @Test void groupsAndNeighboursFollowTheRankLayout() {
        Mesh m = new Mesh(2, 3);
        assertArrayEquals(new int[]{3, 4, 5}, m.group(Axis.MODEL, 4));
        assertArrayEquals(new int[]{1, 4}, m.group(Axis.DATA, 4));
        assertEquals(3, m.neighbour(Axis.MODEL, 5, 1));
        assertEquals(5, m.neighbour(Axis.MODEL, 3, -1));
        assertEquals(1, m.neighbour(Axis.DATA, 4, 1));
        assertEquals(new Mesh(64, 16), Mesh.parse("64x16"));
    }

    @Test void meshesThatDoNotDivideTheModelOrBatchAreRefused() {
        var c = Presets.get("test-small");   // 4 heads, MLP 64, 16 tokens
        var heads = assertThrows(IllegalArgumentException.class, () -> Shard.check(c, new Mesh(1, 3), 4));
        assertTrue(heads.getMessage().contains("model axis 3 does not divide the 4 heads")
                && heads.getMessage().contains("use a model axis that divides 4"), heads.getMessage());
        var oddMlp = new ModelConfig("odd-mlp", 32, 2, 66, 4, 4, 16, 3, 7,
                NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, 0f);
        var mlp = assertThrows(IllegalArgumentException.class, () -> Shard.check(oddMlp, new Mesh(1, 4), 4));
        assertTrue(mlp.getMessage().contains("model axis 4 does not divide the MLP width 66"), mlp.getMessage());
        var tokens = assertThrows(IllegalArgumentException.class,
                () -> Shard.check(c.withImage(12, 3), new Mesh(1, 4), 4));   // 9 tokens
        assertTrue(tokens.getMessage().contains("does not divide the 9 tokens"), tokens.getMessage());
        var batch = assertThrows(IllegalArgumentException.class, () -> Shard.check(c, new Mesh(3, 1), 4));
        assertTrue(batch.getMessage().contains("data axis 3 does not divide the batch 4")
                && batch.getMessage().contains("multiple of 3"), batch.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Mesh.parse("4by2"));
        var variant = assertThrows(IllegalArgumentException.class,
                () -> Shard.check(c.withVariant(vit22b.model.Variant.PAPER.withParallel(false)), new Mesh(1, 2), 4));
        assertTrue(variant.getMessage().contains("--sequential") && variant.getMessage().contains("paper's only"),
                variant.getMessage());
    }
}
