package vit22b.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import vit22b.backend.Backend;
import vit22b.eval.Evaluate;
import vit22b.eval.EvalImages;
import vit22b.eval.OneHot;
import vit22b.model.AttentionStats;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

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

    private final ViT model;
    private final AdamW opt;
    private final Settings s;
    private final Checkpoints ckpts;       // nullable: no checkpoints
    private final MetricsWriter metrics;   // nullable
    private final Progress progress;       // nullable
    private final EvalImages evalSet;   // nullable
    private final Map<String, String> runInfo;
    private volatile boolean stopRequested;

    public Trainer(ViT model, AdamW opt, Settings settings, Checkpoints ckpts, MetricsWriter metrics,
                   Progress progress, EvalImages evalSet, Map<String, String> runInfo) {
        this.model = model;
        this.opt = opt;
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
        ModelConfig c = model.config();
        Backend be = model.backend();
        int per = c.channels() * c.imageSize() * c.imageSize();
        List<Double> losses = new ArrayList<>();
        Evaluate.Score lastEval = null;
        Path lastCkpt = null;
        long start = opt.step();
        if (start > s.steps())
            throw new IllegalArgumentException("the checkpoint is at step " + start + ", past --steps " + s.steps()
                    + "; give --steps " + start + " or more");
        Tensor images = null, targets = null, accumulated = null;
        try {
            if (s.accum() > 1) accumulated = be.allocate(model.grads().shape());
            long windowStart = System.nanoTime(), windowImages = 0;
            for (long t = start + 1; t <= s.steps(); t++) {
                double loss = 0;
                int n = 0;
                for (int micro = 0; micro < s.accum(); micro++) {
                    BatchSource.Batch b = data.next();
                    int m = b.labels().length;
                    if (m == 0 || m > s.batch() || b.images().length != m * per)
                        throw new IllegalStateException("data gave a batch of " + m + " labels and " + b.images().length
                                + " pixel values; expected up to " + s.batch() + " images of " + per + " values");
                    if (images == null || images.dim(0) != m) {   // a short batch after skipped images
                        if (images != null) { be.free(images); be.free(targets); }
                        images = be.allocate(m, c.channels(), c.imageSize(), c.imageSize());
                        targets = be.allocate(m, c.classes());
                    }
                    be.upload(images, b.images());
                    be.upload(targets, OneHot.of(b.labels(), c.classes()));
                    loss += model.forwardBackward(images, targets) / s.accum();
                    n += m;
                    // Each batch's gradient is a mean over its images; the update uses the mean of those means.
                    if (accumulated != null) {
                        if (micro == 0) be.copy(accumulated, model.grads());
                        else be.add(accumulated, model.grads());
                    }
                }
                if (accumulated != null) {
                    be.copy(model.grads(), accumulated);
                    be.scale(model.grads(), 1f / s.accum());
                }
                if (!Double.isFinite(loss)) throw diverged("loss is " + loss, t, lastCkpt);
                double lr = s.schedule().at(t);
                double gradNorm;
                try {
                    gradNorm = opt.step((float) lr);
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
                    AttentionStats a = model.attentionStats();
                    row.put("attn_max_abs_logit", a.maxAbsLogit());
                    row.put("attn_mean_entropy", a.meanEntropy());
                    windowStart = System.nanoTime();
                    windowImages = 0;
                }
                if (evalSet != null && (last || (s.evalEvery() > 0 && t % s.evalEvery() == 0))) {
                    lastEval = Evaluate.score(model, evalSet, s.evalBatch());
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
                        lastCkpt = ckpts.save(model, opt, data.position(), runInfo);
                    } catch (TrainingDivergedException e) {
                        throw diverged(e.getMessage(), t, lastCkpt);
                    }
                    windowStart = System.nanoTime();
                    windowImages = 0;
                }
                if (stop && !last) return new Result(opt.step(), losses, lastEval, lastCkpt, true);
            }
        } finally {
            if (progress != null) progress.finish();
            if (images != null) { be.free(images); be.free(targets); }
            if (accumulated != null) be.free(accumulated);
        }
        return new Result(opt.step(), losses, lastEval, lastCkpt, false);
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
