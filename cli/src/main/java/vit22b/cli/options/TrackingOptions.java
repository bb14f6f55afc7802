package vit22b.cli.options;

import java.io.IOException;
import java.nio.file.Path;

import picocli.CommandLine.Option;
import vit22b.train.MetricsCsv;
import vit22b.train.MetricsWriter;
import vit22b.train.Plots;
import vit22b.train.TensorBoardEvents;

/**
 * Live tracking of a training run beside metrics.jsonl: metrics.csv and the plots (redrawn at
 * every evaluation) always, TensorBoard event files with {@code --tensorboard}.
 */
public final class TrackingOptions {
    @Option(names = "--tensorboard",
            description = "Also write TensorBoard event files into the run folder (tensorboard --logdir runs).")
    public boolean tensorboard;

    /** Adds the sinks to {@code metrics}; {@code startStep} is the step the run resumes from (0: a fresh run). */
    public void attach(MetricsWriter metrics, Path runDir, long startStep) throws IOException {
        metrics.addSink(new MetricsCsv(runDir.resolve("metrics.csv"), MetricsWriter.read(metrics.path())));
        metrics.addSink(Plots.refresher(metrics.path()));
        if (tensorboard) metrics.addSink(new TensorBoardEvents(runDir, startStep));
    }
}
