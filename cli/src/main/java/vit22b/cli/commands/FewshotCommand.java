package vit22b.cli.commands;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.node.ObjectNode;

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
import vit22b.eval.FewShot;

@Command(name = "fewshot", mixinStandardHelpOptions = true,
        description = "Few-shot linear evaluation on frozen features (big_vision's protocol): closed-form L2-regularised "
                + "least squares to {-1,+1} one-vs-all targets, k examples per class, over several seeds.")
public final class FewshotCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin WeightsOptions weights;
    @Mixin BackendOption backend;
    @Mixin PrecisionOption precision;
    @Mixin JsonOption json;
    @Mixin DataOptions data;
    @Option(names = "--shots", split = ",", defaultValue = "1,5,10,25", description = "Examples per class.")
    int[] shots;
    @Option(names = "--seeds", defaultValue = "5", description = "Draws of the few-shot set per shot count.")
    int seeds;
    @Option(names = "--l2", defaultValue = "1024", description = "Ridge regularisation (big_vision's 2^10).")
    double l2;
    @Option(names = "--pool", defaultValue = "5000", description = "Training images the shots are drawn from (0: all).")
    int pool;
    @Option(names = "--test-limit", defaultValue = "0", description = "Test examples (0: all).")
    int testLimit;
    @Option(names = "--batch", defaultValue = "256", description = "Feature batch size.")
    int batch;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the few-shot draws.")
    long seed;

    @Override public Integer call() throws Exception {
        FrozenFeatures f;
        try (Backend be = precision.open(backend, spec.commandLine().getErr())) {
            f = FrozenFeatures.of(be, weights, data, pool, testLimit, batch, spec.commandLine().getErr());
        }
        List<FewShot.Result> res = FewShot.evaluate(f.train(), f.trainLabels(), f.test(), f.testLabels(), f.dim(),
                f.classes(), shots, seeds, l2, seed);
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) {
            ObjectNode o = JsonOption.object().put("weights", weights.weights.toString()).put("data", data.data)
                    .put("test_images", f.testLabels().length).put("seeds", seeds).put("l2", l2);
            var arr = o.putArray("results");
            for (FewShot.Result r : res) {
                ObjectNode x = arr.addObject().put("shots", r.shots()).put("mean_accuracy", r.mean()).put("std", r.std());
                var per = x.putArray("per_seed");
                for (double a : r.perSeed()) per.add(a);
            }
            JsonOption.print(out, o);
        } else {
            out.printf(Locale.ROOT, "few-shot on %s (%d test images, %d seeds, l2 %.4g):%n", data.data, f.testLabels().length, seeds, l2);
            for (FewShot.Result r : res)
                out.printf(Locale.ROOT, "  %2d-shot: accuracy %.4f ± %.4f%n", r.shots(), r.mean(), r.std());
        }
        return 0;
    }
}
