package vit22b.cli.commands;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.cli.options.JsonOption;
import vit22b.model.ModelConfig;
import vit22b.model.ModelStats;
import vit22b.model.PaperTable1;
import vit22b.model.Presets;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Parameters (by part), FLOPs per image and training-state memory of a model; "
                + "Table 1's count for vit-g, vit-e and vit-22b.")
public final class InfoCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, description = "Preset name (e.g. vit-22b, vit-e, vit-g, vit-s-fmnist).")
    String model;

    @Mixin VariantOptions variant;

    @Mixin JsonOption json;

    @Option(names = "--classes", description = "Classifier outputs, 0 for none (default: the preset's).")
    Integer classes;

    @Option(names = "--image-size", description = "Square image side in pixels (default: the preset's).")
    Integer imageSize;

    @Option(names = "--patch", description = "Patch side in pixels (default: the preset's).")
    Integer patch;

    @Override public Integer call() throws Exception {
        ModelConfig preset = Presets.get(model);
        // One constructor call, so that image size and patch are checked together.
        ModelConfig c = new ModelConfig(preset.name(), preset.width(), preset.depth(), preset.mlp(), preset.heads(),
                patch != null ? patch : preset.patch(), imageSize != null ? imageSize : preset.imageSize(),
                preset.channels(), classes != null ? classes : preset.classes(),
                preset.norm(), preset.gelu(), preset.loss(), preset.headBiasInit(), variant.variant());
        ModelStats s = ModelStats.of(c);
        // Table 1 describes the preset as it is; with sizes changed there is nothing to compare.
        Optional<PaperTable1.Row> row = c.equals(preset) ? PaperTable1.row(preset.name()) : Optional.empty();
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) JsonOption.print(out, toJson(s, row));
        else printText(out, s, row);
        out.flush();
        return 0;
    }

    static ObjectNode toJson(ModelStats s, Optional<PaperTable1.Row> row) {
        ObjectMapper om = new ObjectMapper();
        ModelConfig c = s.config();
        ObjectNode o = om.createObjectNode();
        o.put("model", c.name());
        ObjectNode cfg = o.putObject("config");
        cfg.put("width", c.width()).put("depth", c.depth()).put("mlp", c.mlp()).put("heads", c.heads())
                .put("head_dim", c.headDim()).put("patch", c.patch()).put("image_size", c.imageSize())
                .put("channels", c.channels()).put("tokens", c.tokens()).put("classes", c.classes())
                .put("norm", c.norm().name().toLowerCase(Locale.ROOT)).put("gelu", c.gelu().name().toLowerCase(Locale.ROOT))
                .put("qk_norm", c.variant().qkNorm()).put("parallel", c.variant().parallel()).put("biases", c.variant().biases());
        ObjectNode p = o.putObject("parameters");
        p.put("backbone", s.params().backbone()).put("map_head", s.params().mapHead())
                .put("classifier", s.params().classifier()).put("total", s.params().total());
        if (row.isPresent()) {
            PaperTable1.Row r = row.get();
            ObjectNode t = o.putObject("paper");
            t.put("source", "Dehghani et al. 2023, Table 1");
            t.put("params", r.params());
            var counted = t.putArray("counted");
            r.counted().forEach(part -> counted.add(part.name().toLowerCase(Locale.ROOT)));
            t.put("ours", s.params().count(r.counted()));
            t.put("relative_difference", r.relativeDifference(s.params()));
            t.put("note", r.note());
        }
        ObjectNode f = o.putObject("flops_per_image");
        f.put("forward", s.flops().forwardPerImage()).put("training", s.flops().trainingPerImage());
        f.put("accounting", "2 x matmul MACs including attention (PaLM); training = 3 x forward");
        ObjectNode m = o.putObject("memory_bytes");
        for (ModelStats.Memory mem : new ModelStats.Memory[] {s.fp32(), s.mixed()}) {
            ObjectNode x = m.putObject(mem == s.fp32() ? "fp32" : "bf16_fp32_master");
            x.put("precision", mem.precision()).put("weights", mem.weights()).put("master", mem.master())
                    .put("gradients", mem.gradients()).put("adam", mem.adam()).put("total", mem.total());
        }
        return o;
    }

    private static void printText(PrintWriter out, ModelStats s, Optional<PaperTable1.Row> row) {
        ModelConfig c = s.config();
        ModelStats.Params p = s.params();
        out.printf(Locale.ROOT, "model %s: width %d, depth %d, MLP %d, heads %d (head dim %d), patch %d, %dx%dx%d images -> %d tokens, %d classes%n",
                c.name(), c.width(), c.depth(), c.mlp(), c.heads(), c.headDim(), c.patch(), c.imageSize(), c.imageSize(),
                c.channels(), c.tokens(), c.classes());
        if (!c.variant().isPaper()) out.println("block variant: " + c.variant().flags());
        out.println();
        out.println("parameters");
        out.printf(Locale.ROOT, "  backbone    %,17d   patch + pos embedding, %d blocks, final norm%n", p.backbone(), c.depth());
        out.printf(Locale.ROOT, "  MAP head    %,17d%n", p.mapHead());
        out.printf(Locale.ROOT, "  classifier  %,17d%n", p.classifier());
        out.printf(Locale.ROOT, "  total       %,17d   (%s)%n", p.total(), millions(p.total()));
        row.ifPresent(r -> {
            String parts = String.join(" + ", r.counted().stream().map(x -> x.name().toLowerCase(Locale.ROOT).replace('_', ' ')).toList());
            out.printf(Locale.ROOT, "  Table 1     %s counting %s; ours %s (%+.2f%%)%n",
                    millions(r.params()), parts, millions(p.count(r.counted())), 100 * r.relativeDifference(p));
            out.printf(Locale.ROOT, "              %s%n", r.note());
        });
        out.println();
        out.println("FLOPs per image (2 x matmul MACs including attention, PaLM's accounting)");
        out.printf(Locale.ROOT, "  forward     %,17.3f GFLOP%n", s.flops().forwardPerImage() / 1e9);
        out.printf(Locale.ROOT, "  training    %,17.3f GFLOP   (3 x forward)%n", s.flops().trainingPerImage() / 1e9);
        out.println();
        out.printf(Locale.ROOT, "training-state memory     %14s   %26s%n", "fp32", "bf16 weights + fp32 master");
        ModelStats.Memory a = s.fp32(), b = s.mixed();
        memLine(out, "weights", a.weights(), b.weights());
        memLine(out, "fp32 master", a.master(), b.master());
        memLine(out, "gradients (fp32)", a.gradients(), b.gradients());
        memLine(out, "Adam m, v (fp32)", a.adam(), b.adam());
        memLine(out, "total", a.total(), b.total());
    }

    private static void memLine(PrintWriter out, String what, long a, long b) {
        out.printf(Locale.ROOT, "  %-22s %14s   %26s%n", what, gib(a), gib(b));
    }

    private static String gib(long bytes) { return String.format(Locale.ROOT, "%.3f GiB", bytes / (double) (1L << 30)); }

    private static String millions(long n) { return String.format(Locale.ROOT, "%,.1fM", n / 1e6); }
}
