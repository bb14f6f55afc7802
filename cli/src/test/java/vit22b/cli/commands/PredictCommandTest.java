package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import picocli.CommandLine;
import vit22b.cli.Main;
import vit22b.io.ModelFiles;
import vit22b.model.LossKind;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;

class PredictCommandTest {
    @TempDir Path dir;

    /** Runs {@code vit args...}; returns exit code, stdout, stderr. */
    static String[] run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int rc = cl.execute(args);
        return new String[] {String.valueOf(rc), out.toString(), err.toString()};
    }

    private Path tinyModel() throws IOException {
        ParamLayout layout = new ParamLayout(Presets.get("test-tiny"));
        float[] p = new float[(int) layout.total()];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < p.length; i++) p[i] = (float) (r.nextDouble() - 0.5);
        Path f = dir.resolve("tiny.safetensors");
        ModelFiles.save(f, layout, p, Map.of());
        return f;
    }

    @Test void undecodableImageIsAnErrorNamingIt() throws IOException {
        Path bad = dir.resolve("not-an-image.png");
        Files.write(bad, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        String[] r = run("predict", "--weights", tinyModel().toString(), "--image", bad.toString());
        assertEquals("1", r[0]);
        assertTrue(r[2].contains("error: ") && r[2].contains("could not decode image " + bad), r[2]);
    }

    @Test void missingOrCorruptWeightsAreErrorsNamingTheFile() throws IOException {
        Path img = dir.resolve("x.png");
        Files.write(img, new byte[] {1});
        Path none = dir.resolve("none.safetensors");
        String[] r = run("predict", "--weights", none.toString(), "--image", img.toString());
        assertEquals("1", r[0]);
        assertTrue(r[2].contains(none + ": no such file"), r[2]);
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, new byte[] {9, 0, 0, 0, 0, 0, 0, 0, '{', '"'});
        r = run("predict", "--weights", bad.toString(), "--image", img.toString());
        assertTrue(r[2].contains(bad + ": header length 9 runs past the end"), r[2]);
        r = run("predict", "--weights", tinyModel().toString(), "--image", img.toString(), "--gelu", "fast");
        assertTrue(r[2].contains("unknown GeluKind 'fast'; known: tanh, exact"), r[2]);
    }

    @Test void probabilitiesAndTopK() {
        float[] z = {0.5f, -1f, 2f, 2f, 0f};
        assertArrayEquals(new int[] {2, 3, 0}, PredictCommand.topK(z, 3));
        assertArrayEquals(new int[] {2, 3, 0, 4, 1}, PredictCommand.topK(z, 9));
        double[] s = PredictCommand.probabilities(z, LossKind.SIGMOID);
        assertEquals(1 / (1 + Math.exp(1.0)), s[1], 1e-15);
        double[] p = PredictCommand.probabilities(z, LossKind.SOFTMAX);
        double norm = 0;
        for (float v : z) norm += Math.exp(v);
        for (int i = 0; i < z.length; i++) assertEquals(Math.exp(z[i]) / norm, p[i], 1e-15);
    }
}
