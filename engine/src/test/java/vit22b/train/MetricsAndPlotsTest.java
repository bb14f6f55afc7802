package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsAndPlotsTest {

    @Test void metricsAreOneJsonObjectPerLineAndAppend(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("run/metrics.jsonl");
        try (var w = new MetricsWriter(f, false)) {
            for (int s = 1; s <= 3; s++) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("step", s);
                r.put("loss", 2.0 / s);
                r.put("attn_max_logit", java.util.List.of(1.5, 2.5));
                w.write(r);
            }
        }
        try (var w = new MetricsWriter(f, true)) { w.write(Map.of("step", 4, "eval_accuracy", 0.75)); }
        var lines = Files.readAllLines(f);
        assertEquals(4, lines.size());
        assertTrue(lines.get(0).startsWith("{\"step\":1,\"loss\":2.0"), lines.get(0));
        var rows = MetricsWriter.read(f);
        assertEquals(1.0, ((Number) rows.get(1).get("loss")).doubleValue());
        assertEquals(0.75, ((Number) rows.get(3).get("eval_accuracy")).doubleValue());
    }

    @Test void plotsArePngsWithTheCurveDrawn(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("metrics.jsonl");
        try (var w = new MetricsWriter(f, false)) {
            for (int s = 1; s <= 50; s++) w.write(Map.of("step", s, "loss", Math.exp(-s / 10.0)));
            w.write(Map.of("step", 50, "eval_accuracy", 0.8));
            w.write(Map.of("step", 25, "loss", Double.NaN)); // dropped, not drawn
        }
        var files = Plots.fromMetrics(f);
        assertEquals(2, files.size());
        BufferedImage img = ImageIO.read(files.get(0).toFile());
        assertEquals(800, img.getWidth());
        int coloured = 0;
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y) & 0xffffff;
                int r = rgb >> 16, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
                if (b > r + 60 && b > g + 30) coloured++;
            }
        assertTrue(coloured > 300, "the loss curve should be drawn in blue; found " + coloured + " blue pixels");
        assertNotEquals(null, ImageIO.read(files.get(1).toFile()));
    }

    @Test void progressIsPlainLinesOffTerminalAndABarOnOne() {
        var buf = new ByteArrayOutputStream();
        var p = new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), false, 0, 10, 3600);
        for (int s = 1; s <= 10; s++) p.update(s, 1.0 / s, 1e-3, 100);
        String plain = buf.toString(StandardCharsets.UTF_8);
        assertEquals(2, plain.lines().count(), plain);  // the first and the last step
        assertTrue(plain.contains("step 10/10") && !plain.contains("\r"), plain);

        buf.reset();
        var bar = new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), true, 0, 10, 0);
        bar.update(5, 0.5, 1e-3, 100);
        bar.println("eval accuracy 0.5");
        bar.finish();
        String tty = buf.toString(StandardCharsets.UTF_8);
        assertTrue(tty.startsWith("\r[############............] step 5/10"), tty);
        assertTrue(tty.contains("ETA") && tty.contains("eval accuracy 0.5\n"), tty);
        assertEquals("1h01m", Progress.time(3_660));
    }

    /** Slow rates (the emulated device trains well under 1 img/s) keep three significant digits, never "0". */
    @Test void ratesKeepSignificantDigits() {
        assertEquals("0.42", Progress.rate(0.42));
        assertEquals("0.00123", Progress.rate(0.0012345));
        assertEquals("12.3", Progress.rate(12.34));
        assertEquals("1235", Progress.rate(1234.6));
        assertEquals("0", Progress.rate(0));
        assertEquals("?", Progress.rate(Double.NaN));
        long seed = System.nanoTime();
        var rnd = new java.util.Random(seed);
        for (int i = 0; i < 1000; i++) {
            double v = Math.pow(10, rnd.nextDouble(-5, 2));   // 1e-5 .. 100: the rounded range
            String s = Progress.rate(v);
            double back = Double.parseDouble(s);
            assertTrue(Math.abs(back - v) <= 0.005 * v, "seed " + seed + ": " + v + " -> " + s);
            assertTrue(s.replace(".", "").replaceFirst("^0+", "").length() <= 3, "seed " + seed + ": " + v + " -> " + s);
        }
        var buf = new ByteArrayOutputStream();
        new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), false, 0, 10, 0).update(1, 1, 1e-3, 0.0423);
        assertTrue(buf.toString(StandardCharsets.UTF_8).contains(" 0.0423 img/s "), buf.toString(StandardCharsets.UTF_8));
    }
}
