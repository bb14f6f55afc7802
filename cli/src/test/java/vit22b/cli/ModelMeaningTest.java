package vit22b.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static vit22b.cli.Fixtures.vit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.io.ModelFiles;
import vit22b.io.ModelMetadata;
import vit22b.io.SafeTensors;
import vit22b.io.SafeTensorsFile;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;

/** Model files carry class names and preprocessing; predict names classes and takes globs; eval refuses other classes. */
class ModelMeaningTest {
    static final long SEED = 5150;
    @TempDir Path dir;

    @Test void classNamesTravelWithTheModel() throws Exception {
        System.out.println("ModelMeaningTest seed " + SEED);
        ModelConfig c = Fixtures.tiny();
        List<String> names = List.of("c0", "c1", "c2", "c3", "c4");
        Path model = dir.resolve("named.safetensors");
        ModelFiles.save(model, new ParamLayout(c), Fixtures.randomParams(c, SEED), ModelMetadata.of(c, names));
        try (SafeTensorsFile f = SafeTensors.open(model)) {
            JsonNode pre = new ObjectMapper().readTree(f.metadata().get(ModelMetadata.PREPROCESS_KEY));
            assertEquals(c.imageSize(), pre.at("/input_size/2").asInt());
            assertEquals("bicubic", pre.at("/interpolation").asText());
            assertEquals(0.5, pre.at("/mean/0").asDouble());
            assertTrue(f.metadata().get(ModelMetadata.ARCHITECTURE_KEY).contains("ParallelScalingBlock"));
        }
        Path data = Fixtures.folderDataset(dir.resolve("data"), c.classes(), 2, c.imageSize(), SEED);

        var p = vit("predict", "--weights", model.toString(), "--image", data + "/test/*/*.png", "--json", "--batch", "3");
        assertEquals(0, p.code(), p.err());
        JsonNode j = new ObjectMapper().readTree(p.out());
        assertEquals(10, j.get("images").size(), "a glob over two folders levels");
        assertEquals(names.size(), j.get("classes").size());
        JsonNode top = j.at("/images/0/top/0");
        assertEquals(names.get(top.get("class").asInt()), top.get("name").asText());
        var text = vit("predict", "--weights", model.toString(), "--image", data.resolve("test/c1").toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().matches("(?s).*\\n\\s+\\d+ c\\d\\s.*"), text.out());

        assertEquals(0, vit("eval", "--weights", model.toString(), "--data", data.toString()).code());
        // The same images under other class names: refused, naming both lists.
        Path renamed = dir.resolve("renamed");
        for (String split : new String[] {"train", "test"})
            for (int k = 0; k < c.classes(); k++) {
                Path to = Files.createDirectories(renamed.resolve(split));
                Files.move(data.resolve(split).resolve("c" + k), to.resolve("d" + k));
            }
        var e = vit("eval", "--weights", model.toString(), "--data", renamed.toString());
        assertEquals(2, e.code(), e.err());
        assertTrue(e.err().contains("[c0, c1, c2, c3, c4]") && e.err().contains("[d0, d1, d2, d3, d4]"), e.err());
        // A timm file records no names: the class count must agree.
        Path timm = Fixtures.timmFile(dir, c, Fixtures.randomParams(c, SEED + 1));
        Path three = Fixtures.folderDataset(dir.resolve("three"), 3, 1, c.imageSize(), SEED + 2);
        var t = vit("eval", "--weights", timm.toString(), "--data", three.toString());
        assertEquals(2, t.code(), t.err());
        assertTrue(t.err().contains("has 5 classes but"), t.err());
    }
}
