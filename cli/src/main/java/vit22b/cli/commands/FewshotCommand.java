package vit22b.cli.commands;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import vit22b.backend.cpu.CpuBackend;
import vit22b.eval.FewShot;

@Command(name = "fewshot", mixinStandardHelpOptions = true,
        description = "Few-shot linear evaluation on frozen features (big_vision's protocol): closed-form L2-regularised "
                + "least squares to {-1,+1} one-vs-all targets, k examples per class, over several seeds.")
public final class FewshotCommand implements Callable<Integer> {
    @Option(names = "--ckpt", required = true, description = "checkpoint or model .safetensors file")
    Path ckpt;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "fashion-mnist, or a dataset directory (default: ${DEFAULT-VALUE})")
    String data;
    @Option(names = "--shots", split = ",", defaultValue = "1,5,10,25", description = "examples per class (default: ${DEFAULT-VALUE})")
    int[] shots;
    @Option(names = "--seeds", defaultValue = "5", description = "draws of the few-shot set per shot count (default: ${DEFAULT-VALUE})")
    int seeds;
    @Option(names = "--l2", defaultValue = "1024", description = "ridge regularisation (default: ${DEFAULT-VALUE}, big_vision's 2^10)")
    double l2;
    @Option(names = "--pool", defaultValue = "5000", description = "training images the shots are drawn from (0: all; default: ${DEFAULT-VALUE})")
    int pool;
    @Option(names = "--test-limit", defaultValue = "0", description = "test examples (0: all)")
    int testLimit;
    @Option(names = "--batch", defaultValue = "256", description = "feature batch size (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Override public Integer call() throws Exception {
        try (CpuBackend be = new CpuBackend()) {
            FrozenFeatures f = FrozenFeatures.of(be, ckpt, data, pool, testLimit, batch);
            var res = FewShot.evaluate(f.train(), f.trainLabels(), f.test(), f.testLabels(), f.dim(), f.classes(),
                    shots, seeds, l2, seed);
            System.out.printf(Locale.ROOT, "few-shot on %s (%d test images, %d seeds, l2 %.4g):%n", data, f.testLabels().length, seeds, l2);
            for (FewShot.Result r : res)
                System.out.printf(Locale.ROOT, "  %2d-shot: accuracy %.4f ± %.4f%n", r.shots(), r.mean(), r.std());
        }
        return 0;
    }
}
