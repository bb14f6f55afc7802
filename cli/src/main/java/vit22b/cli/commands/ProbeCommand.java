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
import vit22b.cli.options.WeightsOptions;
import vit22b.eval.LinearProbe;

@Command(name = "probe", mixinStandardHelpOptions = true,
        description = "Linear probe on frozen features (paper section 4.2.1): a softmax linear classifier trained "
                + "by SGD with momentum on the MAP head's output, scored on the test split.")
public final class ProbeCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin WeightsOptions weights;
    @Mixin BackendOption backend;
    @Mixin PrecisionOption precision;
    @Mixin JsonOption json;
    @Mixin DataOptions data;
    @Option(names = "--train-limit", defaultValue = "10000", description = "Training examples for the probe (0: all).")
    int trainLimit;
    @Option(names = "--test-limit", defaultValue = "0", description = "Test examples (0: all).")
    int testLimit;
    @Option(names = "--lr", defaultValue = "0.1", description = "Peak learning rate, cosine decay.")
    double lr;
    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum.")
    double momentum;
    @Option(names = "--epochs", defaultValue = "20", description = "Passes over the probe's training examples.")
    int epochs;
    @Option(names = "--batch", defaultValue = "256", description = "Probe and feature batch size.")
    int batch;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the probe's initialisation and example order.")
    long seed;

    @Override public Integer call() throws Exception {
        FrozenFeatures f;
        try (Backend be = precision.open(backend, spec.commandLine().getErr())) {
            f = FrozenFeatures.of(be, weights, data, trainLimit, testLimit, batch, spec.commandLine().getErr());
        }
        var probe = LinearProbe.train(f.train(), f.trainLabels(), f.dim(), f.classes(),
                new LinearProbe.Settings(lr, momentum, epochs, batch, seed));
        double test = probe.accuracy(f.test(), f.testLabels()), train = probe.accuracy(f.train(), f.trainLabels());
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) {
            JsonOption.print(out, JsonOption.object().put("weights", weights.weights.toString()).put("data", data.data)
                    .put("train_images", f.trainLabels().length).put("test_images", f.testLabels().length)
                    .put("features", f.dim()).put("test_accuracy", test).put("train_accuracy", train));
        } else {
            out.printf(Locale.ROOT, "linear probe (%d train, %d test images, %d features): test accuracy %.4f, train accuracy %.4f%n",
                    f.trainLabels().length, f.testLabels().length, f.dim(), test, train);
        }
        return 0;
    }
}
