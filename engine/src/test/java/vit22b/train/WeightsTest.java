package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.io.ModelFiles;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.testing.Check;

class WeightsTest {

    static float[] slice(float[] flat, ParamLayout l, String name) {
        var e = l.entry(name);
        return Arrays.copyOfRange(flat, (int) e.offset(), (int) (e.offset() + e.size()));
    }

    @Test void fineTuningAtANewResolutionResamplesPositionsAndKeepsTheRest(@TempDir Path dir) throws Exception {
        ModelConfig src = Presets.get("test-tiny");                       // 8 px, patch 4: 2x2 grid
        ModelConfig dst = src.withImage(16, 3).withClasses(3);            // 4x4 grid, new head
        ParamLayout ls = new ParamLayout(src), ld = new ParamLayout(dst);
        float[] p = Check.randn(1, (int) ls.total(), 1);
        Path f = dir.resolve("w.safetensors");
        ModelFiles.save(f, ls, p, java.util.Map.of());
        Weights.Host h = Weights.read(f);
        assertArrayEquals(p, h.params());
        float[] init = Check.randn(2, (int) ld.total(), 1);
        float[] out = Weights.adapt(h, dst, init);
        assertArrayEquals(slice(p, ls, "blocks.1.in_proj.weight"), slice(out, ld, "blocks.1.in_proj.weight"));
        assertArrayEquals(slice(p, ls, "attn_pool.latent"), slice(out, ld, "attn_pool.latent"));
        assertArrayEquals(PosEmbedResize.bilinear(slice(p, ls, "pos_embed"), 2, 4, src.width()), slice(out, ld, "pos_embed"));
        assertArrayEquals(slice(init, ld, "head.weight"), slice(out, ld, "head.weight"), "a new class count keeps the fresh head");
        assertEquals(16 * src.width(), slice(out, ld, "pos_embed").length);
        assertThrows(IllegalArgumentException.class, () -> Weights.adapt(h, dst.withDepth(3), new float[(int) new ParamLayout(dst.withDepth(3)).total()]));
    }
}
