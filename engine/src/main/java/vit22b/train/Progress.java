package vit22b.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Training progress: on a terminal a one-line bar redrawn in place (loss, lr, images/s, ETA);
 * otherwise (a log file, CI) a plain line every {@code plainEvery} seconds.
 */
public final class Progress {
    private final PrintStream out;
    private final boolean tty;
    private final long total;
    private final long startStep;
    private final long startNanos = System.nanoTime();
    private final double plainEverySeconds;
    private double lastPlain = Double.NEGATIVE_INFINITY;
    private boolean drawn;

    public Progress(PrintStream out, boolean tty, long startStep, long total, double plainEverySeconds) {
        this.out = out;
        this.tty = tty;
        this.startStep = startStep;
        this.total = total;
        this.plainEverySeconds = plainEverySeconds;
    }

    /** True when standard output is an interactive terminal. */
    public static boolean stdoutIsTerminal() {
        var c = System.console();
        return c != null && c.isTerminal();
    }

    /** Reports that {@code step} of {@code total} updates are done. */
    public void update(long step, double loss, double lr, double imagesPerSecond) {
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        long done = step - startStep;
        double eta = done > 0 ? elapsed / done * (total - step) : Double.NaN;
        String stats = String.format(Locale.ROOT, "step %d/%d  loss %.4f  lr %.2e  %s img/s  ETA %s",
                step, total, loss, lr, rate(imagesPerSecond), time(eta));
        if (tty) {
            int width = 24, filled = (int) (width * step / Math.max(1, total));
            out.print("\r[" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + stats + "\u001b[K");
            out.flush();
            drawn = true;
        } else if (elapsed - lastPlain >= plainEverySeconds || step == total) {
            out.println(stats);
            lastPlain = elapsed;
        }
    }

    /** Prints a message on its own line without garbling the bar. */
    public void println(String line) {
        if (drawn) { out.print("\r\u001b[K"); drawn = false; }
        out.println(line);
    }

    /** Ends the bar's line. */
    public void finish() {
        if (drawn) out.println();
        drawn = false;
    }

    /**
     * A rate with three significant digits (whole numbers from 100 up), so a slow run, e.g. on the
     * emulated device, shows 0.423 img/s rather than 0.
     */
    public static String rate(double perSecond) {
        if (!Double.isFinite(perSecond)) return "?";
        if (Math.abs(perSecond) >= 100) return String.format(Locale.ROOT, "%.0f", perSecond);
        if (perSecond == 0) return "0";
        return new java.math.BigDecimal(perSecond).round(new java.math.MathContext(3)).stripTrailingZeros().toPlainString();
    }

    static String time(double seconds) {
        if (!Double.isFinite(seconds)) return "?";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
