package vit22b.cli.commands;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import vit22b.backend.Backend;
import vit22b.backend.Backends;
import vit22b.eval.Evaluate;
import vit22b.eval.LabeledImages;
import vit22b.model.ViT;
import vit22b.train.Weights;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Accuracy and loss of a model (checkpoint or weights file) on a dataset split.")
public final class EvalCommand implements Callable<Integer> {
    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda or cuda-emu (the CUDA kernels on the emulated device: slow; default: ${DEFAULT-VALUE})")
    String backend;
    @Option(names = "--ckpt", required = true, description = "checkpoint or model .safetensors file")
    Path ckpt;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "fashion-mnist, or a dataset directory (default: ${DEFAULT-VALUE})")
    String data;
    @Option(names = "--split", defaultValue = "test", description = "train or test (default: ${DEFAULT-VALUE})")
    String split;
    @Option(names = "--limit", defaultValue = "0", description = "only the first N examples (0: all)")
    int limit;
    @Option(names = "--batch", defaultValue = "256", description = "evaluation batch size (default: ${DEFAULT-VALUE})")
    int batch;

    @Override public Integer call() throws Exception {
        try (Backend be = Backends.open(backend, System.err); ViT model = Weights.load(ckpt, be)) {
            var c = model.config();
            var set = LabeledImages.of(DataPaths.open(data, DataPaths.split(split)), c.channels(), c.imageSize(), limit);
            Evaluate.Score s = Evaluate.score(model, set, batch);
            System.out.printf(Locale.ROOT, "%s on %s/%s (%d images): accuracy %.4f, loss %.4f%n",
                    c.name(), data, split, s.count(), s.accuracy(), s.loss());
        }
        return 0;
    }
}
