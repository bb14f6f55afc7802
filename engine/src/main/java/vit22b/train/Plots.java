package vit22b.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The run's plots as PNG files, drawn by JFreeChart (headless): tick values from its standard
 * 1-2-5 tick units (round numbers), a light grid, a legend naming each series.
 */
public final class Plots {
    static { System.setProperty("java.awt.headless", "true"); }

    private static final int W = 800, H = 500;
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
        Path loss = dir.resolve("loss.png"), acc = dir.resolve("accuracy.png");
        line(loss, "loss", "step", "loss", List.of(series(rows, "loss", "train loss"), series(rows, "eval_loss", "eval loss")));
        line(acc, "accuracy", "step", "accuracy", List.of(series(rows, "eval_accuracy", "eval accuracy")));
        return List.of(loss, acc);
    }

    /** A sink that redraws the plots from {@code metrics} whenever a row carries an evaluation. */
    public static MetricsSink refresher(Path metrics) {
        return row -> { if (row.containsKey("eval_accuracy")) fromMetrics(metrics); };
    }

    /** Draws the series (empty ones are left out) on shared axes into a PNG file, replaced atomically. */
    public static void line(Path file, String title, String xLabel, String yLabel, List<Series> series) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Series s : series) {
            if (s.x().length == 0) continue;
            XYSeries xy = new XYSeries(s.name(), false, true);
            for (int i = 0; i < s.x().length; i++) xy.add(s.x()[i], s.y()[i]);
            data.addSeries(xy);
        }
        NumberAxis x = new NumberAxis(xLabel), y = new NumberAxis(yLabel);
        x.setAutoRangeIncludesZero(false);
        y.setAutoRangeIncludesZero(false);
        x.setStandardTickUnits(NumberAxis.createStandardTickUnits());
        y.setStandardTickUnits(NumberAxis.createStandardTickUnits());
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            r.setSeriesPaint(i, COLORS[i % COLORS.length]);
            r.setSeriesStroke(i, new BasicStroke(2f));
            if (data.getItemCount(i) == 1) r.setSeriesShapesVisible(i, true);   // a lone point still shows
        }
        XYPlot plot = new XYPlot(data, x, y, r);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(new Color(0xdddddd));
        plot.setRangeGridlinePaint(new Color(0xdddddd));
        plot.setDomainGridlineStroke(new BasicStroke(1f));
        plot.setRangeGridlineStroke(new BasicStroke(1f));
        if (data.getSeriesCount() == 0) plot.setNoDataMessage("no data yet");
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setTitle(new TextTitle(title, JFreeChart.DEFAULT_TITLE_FONT));
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        ChartUtils.saveChartAsPNG(tmp.toFile(), chart, W, H);
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
