package vit22b.cli.commands;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.Backend;
import vit22b.cli.options.BackendOption;
import vit22b.cli.options.PrecisionOption;
import vit22b.cli.options.JsonOption;
import vit22b.cli.options.Streams;
import vit22b.cli.options.WeightsOptions;
import vit22b.eval.Evaluate;
import vit22b.data.Dataset;
import vit22b.io.ModelMetadata;
import vit22b.model.ViT;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Accuracy and loss of a model (checkpoint or weights file) on a dataset split.")
public final class EvalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin WeightsOptions weights;
    @Mixin BackendOption backend;
    @Mixin PrecisionOption precision;
    @Mixin JsonOption json;
    @Mixin DataOptions data;
    @Option(names = "--split", defaultValue = "test", description = "train or test.")
    String split;
    @Option(names = "--limit", defaultValue = "0", description = "Only the first N examples (0: all).")
    int limit;
    @Option(names = "--batch", defaultValue = "256", description = "Evaluation batch size.")
    int batch;

    @Override public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (var file = weights.open()) {
            Dataset dataset = data.open(DataPaths.split(split));
            ModelMetadata.requireSameClasses(file.classes(), file.config().classes(), dataset.classes(), data.data);
            try (Backend be = precision.open(backend, err); ViT model = file.load(be, Streams.printStream(err))) {
                evaluate(model, out);
            }
        }
        return 0;
    }

    private void evaluate(ViT model, PrintWriter out) throws java.io.IOException {
        var c = model.config();
        var set = data.stream(DataPaths.split(split), c.channels(), c.imageSize(), limit);
        Evaluate.Score s = Evaluate.score(model, set, batch);
        DataOptions.reportSkipped(set.skipped(), DataPaths.split(split), spec.commandLine().getErr());
        if (json.json) {
            JsonOption.print(out, JsonOption.object().put("model", c.name()).put("weights", weights.weights.toString())
                    .put("data", data.data).put("split", split).put("images", s.count())
                    .put("accuracy", s.accuracy()).put("loss", s.loss()));
        } else {
            out.printf(Locale.ROOT, "%s on %s/%s (%d images): accuracy %.4f, loss %.4f%n",
                    c.name(), data.data, split, s.count(), s.accuracy(), s.loss());
        }
    }
}
