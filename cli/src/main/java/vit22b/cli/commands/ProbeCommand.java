package vit22b.cli.commands;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import vit22b.backend.cpu.CpuBackend;
import vit22b.eval.LinearProbe;

@Command(name = "probe", mixinStandardHelpOptions = true,
        description = "Linear probe on frozen features (paper section 4.2.1): a softmax linear classifier trained "
                + "by SGD with momentum on the MAP head's output, scored on the test split.")
public final class ProbeCommand implements Callable<Integer> {
    @Option(names = "--ckpt", required = true, description = "checkpoint or model .safetensors file")
    Path ckpt;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "fashion-mnist, or a dataset directory (default: ${DEFAULT-VALUE})")
    String data;
    @Option(names = "--train-limit", defaultValue = "10000", description = "training examples for the probe (0: all; default: ${DEFAULT-VALUE})")
    int trainLimit;
    @Option(names = "--test-limit", defaultValue = "0", description = "test examples (0: all)")
    int testLimit;
    @Option(names = "--lr", defaultValue = "0.1", description = "peak learning rate, cosine decay (default: ${DEFAULT-VALUE})")
    double lr;
    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum (default: ${DEFAULT-VALUE})")
    double momentum;
    @Option(names = "--epochs", defaultValue = "20", description = "(default: ${DEFAULT-VALUE})")
    int epochs;
    @Option(names = "--batch", defaultValue = "256", description = "probe and feature batch size (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Override public Integer call() throws Exception {
        try (CpuBackend be = new CpuBackend()) {
            FrozenFeatures f = FrozenFeatures.of(be, ckpt, data, trainLimit, testLimit, batch);
            var probe = LinearProbe.train(f.train(), f.trainLabels(), f.dim(), f.classes(),
                    new LinearProbe.Settings(lr, momentum, epochs, batch, seed));
            System.out.printf(Locale.ROOT, "linear probe (%d train, %d test images, %d features): test accuracy %.4f, train accuracy %.4f%n",
                    f.trainLabels().length, f.testLabels().length, f.dim(),
                    probe.accuracy(f.test(), f.testLabels()), probe.accuracy(f.train(), f.trainLabels()));
        }
        return 0;
    }
}
