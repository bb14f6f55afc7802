package vit22b.io;

import java.io.IOException;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Failed writes of run files (checkpoints, metrics, configs): one message a user can act on, and
 * a fault-injection seam so that tests can fill the disk, which CI cannot do for real (a size-
 * limited filesystem needs root).
 */
public final class WriteFailures {
    private WriteFailures() {}

    private static final long UNLIMITED = Long.MAX_VALUE;
    private static final AtomicLong budget = new AtomicLong(UNLIMITED);

    /** What the OS says when the disk is full (ENOSPC); also what the seam throws. */
    public static final String NO_SPACE = "No space left on device";

    /**
     * Test seam: writes fail as on a full disk once {@code bytes} more have been written; closing
     * the handle lifts the limit. Never set outside tests.
     */
    public static AutoCloseable diskFullAfter(long bytes) {
        budget.set(bytes);
        return () -> budget.set(UNLIMITED);
    }

    /** Called by the writers before putting {@code n} bytes on disk. */
    public static void reserve(long n) throws IOException {
        if (budget.get() == UNLIMITED) return;
        if (budget.addAndGet(-n) < 0) throw new IOException(NO_SPACE + " (simulated)");
    }

    /** The cause in a user's words: a full disk named as such with the fix, anything else as the OS said it. */
    public static String explain(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && m.toLowerCase(Locale.ROOT).contains(NO_SPACE.toLowerCase(Locale.ROOT)))
                return "the disk is full (" + m + "); free space, then continue with --resume";
        }
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }
}
