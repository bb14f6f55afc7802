package vit22b.backend.cpu;

import java.util.concurrent.ForkJoinTask;

/**
 * Splits loops over rows into contiguous chunks on the common fork-join pool (all cores: its
 * workers plus the calling thread). Small loops run inline: below {@link #GRAIN} float
 * operations the hand-off costs more than it saves. Never wrap a multithreaded sgemm in it.
 */
final class Parallel {
    private Parallel() {}

    static final int THREADS = Runtime.getRuntime().availableProcessors();
    private static final long GRAIN = 1 << 15;

    /** One chunk of a loop: items [from, to), chunk index for per-chunk partial results. */
    interface Body { void run(int chunk, int from, int to); }

    /** How many chunks {@link #run} will use for n items costing about costPerItem flops each. */
    static int chunks(int n, long costPerItem) {
        return (int) Math.max(1, Math.min(Math.min(THREADS, n), (long) n * costPerItem / GRAIN));
    }

    /** Runs body over [0, n) in {@code chunks} contiguous pieces and waits for all of them. */
    static void run(int n, int chunks, Body body) {
        if (chunks <= 1) {
            body.run(0, 0, n);
            return;
        }
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[chunks];
        for (int c = 0; c < chunks; c++) {
            int chunk = c, from = (int) ((long) n * c / chunks), to = (int) ((long) n * (c + 1) / chunks);
            tasks[c] = ForkJoinTask.adapt(() -> body.run(chunk, from, to));
        }
        ForkJoinTask.invokeAll(tasks);
    }

    /** {@link #run} with the chunk count chosen by {@link #chunks}. */
    static void range(int n, long costPerItem, Body body) {
        run(n, chunks(n, costPerItem), body);
    }
}
