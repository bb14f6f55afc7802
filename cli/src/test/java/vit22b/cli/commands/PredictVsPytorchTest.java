package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Issue 2's proof, in the test suite: a timm-layout file written by an independent PyTorch
 * model (bench/pytorch/vit22b_torch.py) loads in {@code vit predict}, whose logits equal
 * PyTorch's (float64) to 1e-4 relative error. Skipped where python3 with torch is missing.
 */
class PredictVsPytorchTest {
    private static final Path SCRIPT = Path.of("..", "bench", "pytorch", "vit22b_torch.py");
    private static String python;

    @TempDir Path dir;

    @BeforeAll static void findPython() {
        for (String c : List.of("python3", "/usr/bin/python3")) {
            try {
                Process p = new ProcessBuilder(c, "-c", "import torch, numpy, PIL").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { python = c; break; }
            } catch (IOException | InterruptedException e) {
                // not this one
            }
        }
    }

    /** A seeded random PNG: 8-bit gray for 1 channel, RGB for 3. */
    private Path png(int size, int channels, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        BufferedImage img = new BufferedImage(size, size, channels == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                if (channels == 1) img.getRaster().setSample(x, y, 0, r.nextInt(256));
                else img.setRGB(x, y, r.nextInt(1 << 24));
            }
        Path f = dir.resolve("img" + seed + ".png");
        ImageIO.write(img, "png", f.toFile());
        return f;
    }

    @ParameterizedTest(name = "gelu {0}, norm {1}, {7}x{7}x{8}")
    @CsvSource({
            "tanh,  rms,   32, 2, 64, 4, 4, 28, 1, 10",
            "exact, layer, 48, 2, 96, 6, 8, 32, 3, 7",
    })
    void logitsMatchPytorch(String gelu, String norm, int d, int depth, int mlp, int heads, int patch,
                            int size, int channels, int classes) throws Exception {
        Assumptions.assumeTrue(python != null, "python3 with torch, numpy and PIL not found (Debian: python3-torch python3-pil)");
        Assumptions.assumeTrue(Files.exists(SCRIPT), SCRIPT + " not found");
        Path img = png(size, channels, d);
        Path weights = dir.resolve("torch.safetensors"), logits = dir.resolve("torch.json");
        List<String> cmd = new ArrayList<>(List.of(python, SCRIPT.toString(), "--weights", weights.toString(),
                "--image", img.toString(), "--logits", logits.toString(), "--gelu", gelu, "--norm", norm,
                "--width", "" + d, "--depth", "" + depth, "--mlp", "" + mlp, "--heads", "" + heads, "--patch", "" + patch,
                "--image-size", "" + size, "--channels", "" + channels, "--classes", "" + classes, "--seed", "5"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "PyTorch script failed:\n" + log);

        String[] r = PredictCommandTest.run("predict", "--weights", weights.toString(), "--image", img.toString(),
                "--gelu", gelu, "--norm", norm, "--json");
        assertEquals("0", r[0], r[2]);
        ObjectMapper json = new ObjectMapper();
        JsonNode ref = json.readTree(logits.toFile()).get("logits");
        JsonNode out = json.readTree(r[1]).get("images").get(0).get("logits");
        assertEquals(classes, ref.size());
        assertEquals(classes, out.size());
        double num = 0, den = 0;
        for (int i = 0; i < classes; i++) {
            double e = out.get(i).doubleValue() - ref.get(i).doubleValue();
            num += e * e;
            den += ref.get(i).doubleValue() * ref.get(i).doubleValue();
        }
        assertTrue(den > 0, "PyTorch logits are all zero: the comparison proves nothing");
        double rel = Math.sqrt(num / den);
        assertTrue(rel <= 1e-4, "relative error " + rel + " > 1e-4\nvit:   " + out + "\ntorch: " + ref);
    }
}
