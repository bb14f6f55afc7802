package vit22b.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import vit22b.eval.Evaluate;
import vit22b.eval.EvalImages;
import vit22b.model.AttentionStats;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;

/**
 * The training loop: batches in, AdamW steps with the schedule's learning rate, metrics lines,
 * periodic evaluation and checkpoints. A non-finite loss or gradient stops the run before any
 * update or save, so the last checkpoint on disk is the last good state.
 */
public final class Trainer {

    /**
     * Loop settings. {@code logEvery}, {@code evalEvery} and {@code ckptEvery} count updates
     * (0 disables; the last step is always logged, evaluated when there is an eval set, and
     * checkpointed when there is a checkpoint directory). {@code accum}: gradient accumulation,
     * each update averages the gradients of that many batches of {@code batch} images (an
     * update then sees batch x accum images, as one batch of that size would).
     */
    public record Settings(long steps, int batch, LrSchedule schedule, int logEvery, int evalEvery, int ckptEvery,
                           int evalBatch, int accum) {
        public Settings {
            if (steps <= 0 || batch <= 0 || evalBatch <= 0)
                throw new IllegalArgumentException("steps, batch and eval batch must be positive: " + steps + ", " + batch + ", " + evalBatch);
            if (accum <= 0) throw new IllegalArgumentException("--accum must be at least 1, got " + accum);
            if (logEvery < 0 || evalEvery < 0 || ckptEvery < 0)
                throw new IllegalArgumentException("--log-every, --eval-every and --ckpt-every must be >= 0");
            if (schedule.total() != steps)
                throw new IllegalArgumentException("schedule spans " + schedule.total() + " steps but the run has " + steps);
        }

        /** Without gradient accumulation. */
        public Settings(long steps, int batch, LrSchedule schedule, int logEvery, int evalEvery, int ckptEvery, int evalBatch) {
            this(steps, batch, schedule, logEvery, evalEvery, ckptEvery, evalBatch, 1);
        }
    }

    /**
     * The outcome: updates done, the loss of every step run in this process, the last eval, and
     * whether {@link #requestStop} ended the run early.
     */
    public record Result(long step, List<Double> losses, Evaluate.Score lastEval, Path lastCheckpoint, boolean stopped) {}

    private final Learner learner;
    private final Learner own;   // nullable: the learner this trainer made (and frees after run)
    private final Settings s;
    private final Checkpoints ckpts;       // nullable: no checkpoints
    private final MetricsWriter metrics;   // nullable
    private final Progress progress;       // nullable
    private final EvalImages evalSet;   // nullable
    private final Map<String, String> runInfo;
    private volatile boolean stopRequested;

    /** Trains {@code model} with {@code opt} on one device. */
    public Trainer(ViT model, AdamW opt, Settings settings, Checkpoints ckpts, MetricsWriter metrics,
                   Progress progress, EvalImages evalSet, Map<String, String> runInfo) {
        this(new ViTLearner(model, opt), settings, ckpts, metrics, progress, evalSet, runInfo, true);
    }

    /** Trains with {@code learner} (one device, or a mesh); the caller keeps it. */
    public Trainer(Learner learner, Settings settings, Checkpoints ckpts, MetricsWriter metrics,
                   Progress progress, EvalImages evalSet, Map<String, String> runInfo) {
        this(learner, settings, ckpts, metrics, progress, evalSet, runInfo, false);
    }

    private Trainer(Learner learner, Settings settings, Checkpoints ckpts, MetricsWriter metrics,
                    Progress progress, EvalImages evalSet, Map<String, String> runInfo, boolean owns) {
        this.learner = learner;
        this.own = owns ? learner : null;
        this.s = settings;
        this.ckpts = ckpts;
        this.metrics = metrics;
        this.progress = progress;
        this.evalSet = evalSet;
        this.runInfo = runInfo;
    }

    /** Asks the loop to end after the current step, writing a checkpoint first (callable from any thread). */
    public void requestStop() { stopRequested = true; }

    /**
     * Runs from the optimiser's current step to {@code steps}, reading batches from {@code data};
     * nothing to do when the run is already at {@code steps} (a run killed after its last
     * checkpoint then only needs its final evaluation).
     */
    public Result run(BatchSource data) throws IOException {
        ModelConfig c = learner.config();
        int per = c.channels() * c.imageSize() * c.imageSize();
        List<Double> losses = new ArrayList<>();
        Evaluate.Score lastEval = null;
        Path lastCkpt = null;
        long start = learner.step();
        if (start > s.steps())
            throw new IllegalArgumentException("the checkpoint is at step " + start + ", past --steps " + s.steps()
                    + "; give --steps " + start + " or more");
        try {
            long windowStart = System.nanoTime(), windowImages = 0;
            for (long t = start + 1; t <= s.steps(); t++) {
                List<BatchSource.Batch> batches = new ArrayList<>(s.accum());
                int n = 0;
                for (int micro = 0; micro < s.accum(); micro++) {
                    BatchSource.Batch b = data.next();
                    int m = b.labels().length;
                    if (m == 0 || m > s.batch() || b.images().length != m * per)
                        throw new IllegalStateException("data gave a batch of " + m + " labels and " + b.images().length
                                + " pixel values; expected up to " + s.batch() + " images of " + per + " values");
                    batches.add(b);
                    n += m;
                }
                double lr = s.schedule().at(t);
                double loss, gradNorm;
                try {
                    loss = learner.update(batches, (float) lr);
                    gradNorm = learner.gradNorm();
                } catch (TrainingDivergedException e) {
                    throw diverged(e.getMessage(), t, lastCkpt);
                }
                losses.add(loss);
                boolean stop = stopRequested;
                boolean last = t == s.steps();
                double seconds = (System.nanoTime() - windowStart) / 1e9;
                windowImages += n;
                double imgPerSec = windowImages / Math.max(seconds, 1e-9);
                if (progress != null) progress.update(t, loss, lr, imgPerSec);
                Map<String, Object> row = null;
                // Step 1 too: its loss is the loss at initialisation, where every curve starts.
                if (last || t == 1 || (s.logEvery() > 0 && t % s.logEvery() == 0)) {
                    row = newRow(t, data);
                    row.put("loss", loss);
                    row.put("lr", lr);
                    row.put("grad_norm", gradNorm);
                    row.put("images_per_s", imgPerSec);
                    row.put("tokens_per_s", imgPerSec * c.tokens());
                    row.put("data_position", data.position());
                    AttentionStats a = learner.attentionStats();
                    if (a != null) {
                        row.put("attn_max_abs_logit", a.maxAbsLogit());
                        row.put("attn_mean_entropy", a.meanEntropy());
                    }
                    windowStart = System.nanoTime();
                    windowImages = 0;
                }
                if (evalSet != null && (last || (s.evalEvery() > 0 && t % s.evalEvery() == 0))) {
                    lastEval = Evaluate.score(learner.model(), evalSet, s.evalBatch());
                    if (row == null) row = newRow(t, data);
                    row.put("eval_accuracy", lastEval.accuracy());
                    row.put("eval_loss", lastEval.loss());
                    String line = String.format(java.util.Locale.ROOT, "step %d: eval accuracy %.4f, loss %.4f (%d images)",
                            t, lastEval.accuracy(), lastEval.loss(), lastEval.count());
                    if (progress != null) progress.println(line);
                    windowStart = System.nanoTime();   // evaluation time is not training throughput
                    windowImages = 0;
                }
                if (row != null && metrics != null) metrics.write(row);
                if (ckpts != null && (last || stop || (s.ckptEvery() > 0 && t % s.ckptEvery() == 0))) {
                    try {
                        lastCkpt = ckpts.save(c, learner.snapshot(), data.position(), runInfo);
                    } catch (TrainingDivergedException e) {
                        throw diverged(e.getMessage(), t, lastCkpt);
                    }
                    windowStart = System.nanoTime();
                    windowImages = 0;
                }
                if (stop && !last) return new Result(learner.step(), losses, lastEval, lastCkpt, true);
            }
        } finally {
            if (progress != null) progress.finish();
            if (own != null) own.close();
        }
        return new Result(learner.step(), losses, lastEval, lastCkpt, false);
    }

    /** A metrics row's common columns: the step, the wall-clock time (Unix seconds), epochs and images seen. */
    private static Map<String, Object> newRow(long step, BatchSource data) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("step", step);
        row.put("time", System.currentTimeMillis() / 1000.0);
        row.put("epoch", data.epoch());
        row.put("images_seen", data.imagesSeen());
        return row;
    }

    private static String latestOf(Checkpoints ckpts) {
        try {
            return ckpts.latest().map(p -> "the last good checkpoint is " + p).orElse("no checkpoint was written yet");
        } catch (java.io.IOException e) {
            return "the checkpoint folder cannot be listed: " + e.getMessage();
        }
    }

    private TrainingDivergedException diverged(String what, long t, Path lastCkpt) {
        String kept = lastCkpt != null ? "the last good checkpoint is " + lastCkpt
                : ckpts != null ? latestOf(ckpts)
                : "checkpoints are off";
        boolean canResume = lastCkpt != null || kept.startsWith("the last good");
        return new TrainingDivergedException(what + " at step " + t + "; stopped without updating or saving ("
                + kept + "). " + (canResume ? "Resume with --resume " + ckpts.dir() + " --lr SMALLER, or start again with"
                : "Start again with") + " a lower --lr, a longer --warmup or a smaller --clip, or check the data");
    }
}
