package vit22b.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import javax.imageio.ImageIO;

/** Line plots as PNG files, drawn with Java2D (headless: no display needed). */
public final class Plots {
    static { System.setProperty("java.awt.headless", "true"); }

    private static final int W = 800, H = 500, LEFT = 95, RIGHT = 30, TOP = 40, BOTTOM = 60;
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e)};

    private Plots() {}

    /** One named series of (x, y) points. */
    public record Series(String name, double[] x, double[] y) {
        public Series {
            if (x.length != y.length) throw new IllegalArgumentException("series " + name + ": " + x.length + " x vs " + y.length + " y");
        }
    }

    /** The series {@code key} against "step" from metrics rows that have both (non-finite values dropped). */
    public static Series series(List<Map<String, Object>> rows, String key, String name) {
        List<double[]> pts = new ArrayList<>();
        for (var r : rows) {
            if (r.get(key) instanceof Number v && r.get("step") instanceof Number s && Double.isFinite(v.doubleValue()))
                pts.add(new double[] {s.doubleValue(), v.doubleValue()});
        }
        double[] x = new double[pts.size()], y = new double[pts.size()];
        for (int i = 0; i < x.length; i++) { x[i] = pts.get(i)[0]; y[i] = pts.get(i)[1]; }
        return new Series(name, x, y);
    }

    /** Writes loss.png and accuracy.png next to the metrics file; returns the files written. */
    public static List<Path> fromMetrics(Path metrics) throws IOException {
        var rows = MetricsWriter.read(metrics);
        Path dir = metrics.toAbsolutePath().getParent();
        List<Path> out = new ArrayList<>();
        Path loss = dir.resolve("loss.png");
        line(loss, "training loss", "step", "loss", List.of(series(rows, "loss", "train loss"), series(rows, "eval_loss", "eval loss")));
        out.add(loss);
        Path acc = dir.resolve("accuracy.png");
        line(acc, "accuracy", "step", "accuracy", List.of(series(rows, "eval_accuracy", "eval accuracy")));
        out.add(acc);
        return out;
    }

    /** Draws the non-empty series on shared axes into a PNG file. */
    public static void line(Path file, String title, String xLabel, String yLabel, List<Series> series) throws IOException {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, W, H);
            double x0 = Double.POSITIVE_INFINITY, x1 = Double.NEGATIVE_INFINITY, y0 = x0, y1 = x1;
            for (Series s : series) for (int i = 0; i < s.x.length; i++) {
                x0 = Math.min(x0, s.x[i]); x1 = Math.max(x1, s.x[i]);
                y0 = Math.min(y0, s.y[i]); y1 = Math.max(y1, s.y[i]);
            }
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            g.drawString(title, LEFT, TOP - 15);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            g.drawRect(LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
            g.drawString(xLabel, W / 2, H - 15);
            var rotate = g.getTransform();   // y label vertical, centred on the left margin
            g.rotate(-Math.PI / 2);
            g.drawString(yLabel, -(TOP + H - BOTTOM) / 2 - 20, 14);
            g.setTransform(rotate);
            if (x0 > x1) {
                g.drawString("no data yet", W / 2 - 30, H / 2);
            } else {
                if (x1 == x0) { x0 -= 1; x1 += 1; }
                if (y1 == y0) { y0 -= 0.5; y1 += 0.5; }
                double pad = (y1 - y0) * 0.05;
                y0 -= pad; y1 += pad;
                axes(g, x0, x1, y0, y1);
                int k = 0;
                for (Series s : series) {
                    if (s.x.length == 0) continue;
                    Color c = COLORS[k % COLORS.length];
                    g.setColor(c);
                    g.setStroke(new BasicStroke(1.5f));
                    for (int i = 1; i < s.x.length; i++)
                        g.drawLine(px(s.x[i - 1], x0, x1), py(s.y[i - 1], y0, y1), px(s.x[i], x0, x1), py(s.y[i], y0, y1));
                    if (s.x.length == 1) g.fillOval(px(s.x[0], x0, x1) - 3, py(s.y[0], y0, y1) - 3, 6, 6);
                    g.drawString(s.name, W - RIGHT - 150, TOP + 20 + 16 * k);
                    k++;
                }
            }
        } finally {
            g.dispose();
        }
        if (file.toAbsolutePath().getParent() != null) Files.createDirectories(file.toAbsolutePath().getParent());
        if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer available for " + file);
    }

    private static void axes(Graphics2D g, double x0, double x1, double y0, double y1) {
        g.setColor(Color.GRAY);
        for (int i = 0; i <= 5; i++) {
            double x = x0 + (x1 - x0) * i / 5, y = y0 + (y1 - y0) * i / 5;
            int sx = px(x, x0, x1), sy = py(y, y0, y1);
            g.drawLine(sx, H - BOTTOM, sx, H - BOTTOM + 5);
            g.drawString(fmt(x), sx - 15, H - BOTTOM + 20);
            g.drawLine(LEFT - 5, sy, LEFT, sy);
            g.drawString(fmt(y), 22, sy + 4);
        }
    }

    private static String fmt(double v) {
        double a = Math.abs(v);
        if (a != 0 && (a < 1e-2 || a >= 1e5)) return String.format(Locale.ROOT, "%.2e", v);
        return a >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.3f", v);
    }

    private static int px(double x, double x0, double x1) { return LEFT + (int) Math.round((x - x0) / (x1 - x0) * (W - LEFT - RIGHT)); }

    private static int py(double y, double y0, double y1) { return H - BOTTOM - (int) Math.round((y - y0) / (y1 - y0) * (H - TOP - BOTTOM)); }
}
