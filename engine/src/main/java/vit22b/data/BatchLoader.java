package vit22b.data;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Batches of augmented examples, decoded ahead of the consumer by background threads.
 *
 * <p>Determinism: epoch e's order is a permutation drawn from (seed, e); example i's augmentation
 * uses a generator drawn from (seed, e, i). Each batch is built by one task from that plan alone,
 * and batches are handed out in plan order, so the stream is the same for any number of workers
 * and any thread timing, and starting at a saved {@link DataPosition} continues it exactly.
 *
 * <p>Not thread-safe: one consumer calls {@link #next}.
 */
public final class BatchLoader implements AutoCloseable {
    /**
     * @param batchSize examples per batch
     * @param seed      drives the epoch orders and the augmentations
     * @param shuffle   a fresh random order each epoch (else dataset order)
     * @param dropLast  drop an epoch's final partial batch
     * @param workers   background threads (0: build batches on the calling thread)
     * @param prefetch  batches built ahead of the consumer (at least 1)
     * @param skipBad   skip and count unreadable images instead of stopping with their path
     * @param epochs    epochs to deliver, 0 for an endless stream
     * @param start     where to start (a position saved from {@link #position()})
     */
    public record Options(int batchSize, long seed, boolean shuffle, boolean dropLast, int workers, int prefetch,
                          boolean skipBad, int epochs, DataPosition start) {
        public Options {
            if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
            if (workers < 0) throw new IllegalArgumentException("data workers must be >= 0, got " + workers);
            if (prefetch < 1) throw new IllegalArgumentException("prefetch must be >= 1 batch, got " + prefetch);
            if (epochs < 0) throw new IllegalArgumentException("epochs must be >= 0 (0 = endless), got " + epochs);
            if (start == null) throw new IllegalArgumentException("start position is required (DataPosition.START)");
        }

        /** Endless shuffled stream, drop-last, one worker per spare core. */
        public static Options training(int batchSize, long seed) {
            int w = Math.max(1, Runtime.getRuntime().availableProcessors() - 1);
            return new Options(batchSize, seed, true, true, w, 2 * w, false, 0, DataPosition.START);
        }

        /** One pass in dataset order, keeping the final partial batch. */
        public static Options evaluation(int batchSize) {
            int w = Math.max(1, Runtime.getRuntime().availableProcessors() - 1);
            return new Options(batchSize, 0, false, false, w, 2 * w, false, 1, DataPosition.START);
        }

        public Options withWorkers(int workers, int prefetch) {
            return new Options(batchSize, seed, shuffle, dropLast, workers, prefetch, skipBad, epochs, start);
        }
        public Options withSkipBad(boolean skipBad) {
            return new Options(batchSize, seed, shuffle, dropLast, workers, prefetch, skipBad, epochs, start);
        }
        public Options withEpochs(int epochs) {
            return new Options(batchSize, seed, shuffle, dropLast, workers, prefetch, skipBad, epochs, start);
        }
        public Options withStart(DataPosition start) {
            return new Options(batchSize, seed, shuffle, dropLast, workers, prefetch, skipBad, epochs, start);
        }
        public Options withDropLast(boolean dropLast) {
            return new Options(batchSize, seed, shuffle, dropLast, workers, prefetch, skipBad, epochs, start);
        }
        public Options withShuffle(boolean shuffle) {
            return new Options(batchSize, seed, shuffle, dropLast, workers, prefetch, skipBad, epochs, start);
        }
    }

    private record Pending(Future<Batch> batch, DataPosition after) {}

    private final Dataset data;
    private final Augmentation aug;
    private final Options opt;
    private final ExecutorService pool;           // null when workers == 0
    private final ArrayDeque<Pending> pending = new ArrayDeque<>();
    private final Map<Integer, int[]> orders = new HashMap<>();
    private DataPosition consumed;                // position of the next batch handed out
    private DataPosition planned;                 // position of the next batch to submit
    private long skipped;
    private Exception failure;                    // set once next() failed: the stream has a hole

    public BatchLoader(Dataset data, Augmentation aug, Options opt) {
        this.data = data;
        this.aug = aug;
        this.opt = opt;
        int n = data.size();
        if (n == 0) throw new IllegalArgumentException("dataset " + data.name() + " is empty");
        if (opt.dropLast() && opt.batchSize() > n)
            throw new IllegalArgumentException("batch size " + opt.batchSize() + " is larger than the " + n
                    + " examples of " + data.name() + " and drop-last is on: lower the batch size");
        if (opt.start().index() > n)
            throw new IllegalArgumentException("start position " + opt.start() + " is past the " + n
                    + " examples of " + data.name() + ": was the checkpoint made with another dataset?");
        this.consumed = normalize(opt.start());
        this.planned = consumed;
        if (opt.workers() == 0) {
            this.pool = null;
        } else {
            AtomicInteger id = new AtomicInteger();
            this.pool = Executors.newFixedThreadPool(opt.workers(), r -> {
                Thread t = new Thread(r, "vit-data-" + id.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    /** Batches per full epoch. */
    public int batchesPerEpoch() {
        int n = data.size(), b = opt.batchSize();
        return opt.dropLast() ? n / b : (n + b - 1) / b;
    }

    /** Position of the next batch {@link #next} returns: save it in checkpoints. */
    public DataPosition position() { return consumed; }

    /** Unreadable images skipped so far in the batches handed out (with skipBad). */
    public long skipped() { return skipped; }

    public Dataset dataset() { return data; }

    public Augmentation augmentation() { return aug; }

    public boolean hasNext() { return !finished(consumed); }

    /**
     * The next batch. Throws an IOException naming the file if an image cannot be read (unless
     * skipBad), and NoSuchElementException after the last epoch.
     */
    public Batch next() throws IOException {
        if (failure != null)
            throw new IllegalStateException("the data loader stopped at an error and cannot continue: " + failure.getMessage(), failure);
        if (!hasNext()) throw new NoSuchElementException("the loader delivered its " + opt.epochs() + " epoch(s)");
        fill();
        Pending p = pending.removeFirst();
        Batch b;
        try {
            b = p.batch().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw fail(new IOException("interrupted while waiting for a data batch", e));
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) throw fail(new IOException(io.getMessage(), io));
            if (c instanceof RuntimeException re) throw fail(re);
            throw fail(new IllegalStateException("data worker failed: " + c, c));
        }
        consumed = p.after();
        skipped += b.skipped().size();
        if (pool != null) fill();   // keep workers busy while the caller computes
        return b;
    }

    private <E extends Exception> E fail(E e) {
        failure = e;
        close();
        return e;
    }

    private void fill() {
        while (pending.size() < (pool == null ? 1 : opt.prefetch()) && !finished(planned)) {
            int epoch = planned.epoch(), from = planned.index();
            int to = Math.min(from + opt.batchSize(), data.size());
            int[] idx = Arrays.copyOfRange(order(epoch), from, to);
            DataPosition after = normalize(new DataPosition(epoch, to));
            Future<Batch> f = pool == null ? runInline(epoch, idx) : pool.submit(() -> build(epoch, idx));
            pending.addLast(new Pending(f, after));
            planned = after;
            orders.keySet().removeIf(e -> e < planned.epoch());   // only the planner reads orders
        }
    }

    private Future<Batch> runInline(int epoch, int[] idx) {
        CompletableFuture<Batch> f = new CompletableFuture<>();
        try {
            f.complete(build(epoch, idx));
        } catch (IOException | RuntimeException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    /** Builds one batch from its plan; runs on a worker. */
    private Batch build(int epoch, int[] idx) throws IOException {
        int c = aug.channels(), s = aug.size(), k = data.numClasses(), per = c * s * s;
        float[] images = new float[idx.length * per];
        float[] targets = new float[idx.length * k];
        int[] labels = new int[idx.length];
        List<String> bad = new ArrayList<>();
        int count = 0;
        for (int i : idx) {
            Image out;
            try {
                out = aug.apply(data.image(i), exampleRng(opt.seed(), epoch, i));
            } catch (IOException e) {
                if (!opt.skipBad())
                    throw new IOException(e.getMessage() + " (pass --skip-bad to skip unreadable images and count them)", e);
                bad.add(e.getMessage());
                continue;
            }
            System.arraycopy(out.pixels(), 0, images, count * per, per);
            int label = data.label(i);
            labels[count] = label;
            targets[count * k + label] = 1f;
            count++;
        }
        if (count < idx.length) {
            images = Arrays.copyOf(images, count * per);
            targets = Arrays.copyOf(targets, count * k);
            labels = Arrays.copyOf(labels, count);
        }
        return new Batch(images, targets, labels, count, List.copyOf(bad));
    }

    private boolean finished(DataPosition p) { return opt.epochs() > 0 && p.epoch() >= opt.epochs(); }

    /** Moves a position at (or, with drop-last, too close to) the end of an epoch to the next epoch. */
    private DataPosition normalize(DataPosition p) {
        int n = data.size();
        boolean end = p.index() >= n || (opt.dropLast() && p.index() + opt.batchSize() > n);
        return end ? new DataPosition(p.epoch() + 1, 0) : p;
    }

    /** Epoch e's order of dataset indices. */
    int[] order(int epoch) {
        return orders.computeIfAbsent(epoch, e -> {
            int[] o = new int[data.size()];
            Arrays.setAll(o, i -> i);
            if (opt.shuffle()) {
                SplittableRandom r = new SplittableRandom(mix(opt.seed(), e, -1));
                for (int i = o.length - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int t = o[i]; o[i] = o[j]; o[j] = t;
                }
            }
            return o;
        });
    }

    /** The augmentation generator of dataset example {@code index} in {@code epoch}. */
    static SplittableRandom exampleRng(long seed, int epoch, int index) {
        return new SplittableRandom(mix(seed, epoch, index));
    }

    /** SplitMix64 finaliser over (seed, epoch, index): nearby inputs give unrelated streams. */
    static long mix(long seed, long epoch, long index) {
        long h = seed;
        for (long v : new long[] {epoch, index}) {
            h += 0x9E3779B97F4A7C15L * (v + 1);
            h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;
            h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
            h ^= h >>> 31;
        }
        return h;
    }

    @Override public void close() {
        for (Pending p : pending) p.batch().cancel(true);
        pending.clear();
        if (pool != null) pool.shutdownNow();
    }
}
