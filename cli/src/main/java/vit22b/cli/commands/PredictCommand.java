package vit22b.cli.commands;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.Backend;
import vit22b.cli.options.BackendOption;
import vit22b.cli.options.PrecisionOption;
import vit22b.cli.options.Streams;
import vit22b.cli.options.JsonOption;
import vit22b.cli.options.WeightsOptions;
import vit22b.data.Image;
import vit22b.data.Images;
import vit22b.io.ConfigJson;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Classify images with a safetensors model file (ours, or a timm-layout file written elsewhere); "
                + "prints the logits and the top classes per image.")
public final class PredictCommand implements Callable<Integer> {
    @Mixin WeightsOptions weights;
    @Mixin BackendOption backend;
    @Mixin PrecisionOption precision;
    @Mixin JsonOption json;

    @Option(names = "--image", required = true, arity = "1..*", paramLabel = "IMG",
            description = "PNG or JPEG images, folders of them, or globs such as 'photos/*.jpg'.")
    List<String> images;

    @Option(names = "--top", defaultValue = "5", paramLabel = "K", description = "Classes listed per image.")
    int top;

    @Option(names = "--batch", defaultValue = "16", paramLabel = "N",
            description = "Images per forward pass (bounds activation memory for long image lists).")
    int batch;

    @Spec CommandSpec spec;

    /** The image files {@link #images} named, in order. */
    private List<Path> paths;
    /** The class names the model file records (null: a file without them, classes are numbers). */
    private List<String> names;

    @Override public Integer call() throws IOException {
        if (top < 1) throw new IllegalArgumentException("--top must be at least 1, got " + top);
        if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
        paths = ImagePaths.expand(images);
        List<float[]> logits = new ArrayList<>();
        ModelConfig c;
        PrintWriter err = spec.commandLine().getErr();
        try (var file = weights.open()) {
            c = file.config();
            if (c.classes() == 0)
                throw new IllegalArgumentException(weights.weights + " has no classifier (head.weight); predict needs a model with classes");
            names = file.classes().orElse(null);
            try (Backend be = precision.open(backend, err); ViT model = file.load(be, Streams.printStream(err))) {
                for (int i = 0; i < paths.size(); i += batch) {
                    List<Image> inputs = new ArrayList<>();   // one batch decoded at a time: memory stays bounded
                    for (Path p : paths.subList(i, Math.min(paths.size(), i + batch))) inputs.add(prepare(p, c));
                    logits.addAll(forward(model, inputs));
                }
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) JsonOption.print(out, toJson(c, logits));
        else printText(out, c, logits);
        return 0;
    }

    /**
     * Pixels in [-1, 1] with the model's channels (gray feeds 1-channel models); an image
     * already at the model's resolution is used as is, others are resized (shorter side) and
     * center-cropped.
     */
    static Image prepare(Path path, ModelConfig c) throws IOException {
        return Images.resizeShorterCenterCrop(Images.read(path, c.channels()), c.imageSize());
    }

    private static List<float[]> forward(ViT model, List<Image> batch) {
        ModelConfig c = model.config();
        int per = c.channels() * c.imageSize() * c.imageSize();
        float[] pixels = new float[batch.size() * per];
        for (int i = 0; i < batch.size(); i++) System.arraycopy(batch.get(i).pixels(), 0, pixels, i * per, per);
        var backend = model.backend();
        Tensor x = backend.allocate(batch.size(), c.channels(), c.imageSize(), c.imageSize());
        try {
            backend.upload(x, pixels);
            float[] z = backend.download(model.forward(x));
            List<float[]> rows = new ArrayList<>();
            for (int i = 0; i < batch.size(); i++)
                rows.add(Arrays.copyOfRange(z, i * c.classes(), (i + 1) * c.classes()));
            return rows;
        } finally {
            backend.free(x);
        }
    }

    /** Per-class probabilities: independent sigmoids (multi-label) or one softmax. */
    static double[] probabilities(float[] logits, LossKind loss) {
        double[] p = new double[logits.length];
        if (loss == LossKind.SIGMOID) {
            for (int i = 0; i < p.length; i++) p[i] = 1 / (1 + Math.exp(-logits[i]));
            return p;
        }
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float z : logits) max = Math.max(max, z);
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(logits[i] - max);
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    /** Class indices by decreasing logit (ties: lower index first), at most k. */
    static int[] topK(float[] logits, int k) {
        return IntStream.range(0, logits.length).boxed()
                .sorted(Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i))
                .limit(k).mapToInt(Integer::intValue).toArray();
    }

    private static String lower(Enum<?> e) { return e.name().toLowerCase(Locale.ROOT); }

    private void printText(PrintWriter out, ModelConfig c, List<float[]> logits) {
        out.printf("model %s: D %d, depth %d, MLP %d, heads %d, patch %d, %d px x %d ch, %d classes, gelu %s, norm %s, loss %s%n",
                c.name(), c.width(), c.depth(), c.mlp(), c.heads(), c.patch(), c.imageSize(), c.channels(), c.classes(),
                lower(c.gelu()), lower(c.norm()), lower(c.loss()));
        for (int i = 0; i < logits.size(); i++) {
            float[] z = logits.get(i);
            double[] p = probabilities(z, c.loss());
            out.println(paths.get(i));
            StringBuilder all = new StringBuilder();
            for (float v : z) all.append(all.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.6g", v));
            out.println("  logits: [" + all + "]");
            out.printf("  top %d (class, logit, %s probability):%n", Math.min(top, z.length), lower(c.loss()));
            for (int k : topK(z, top))
                out.printf(Locale.ROOT, "    %5d %-16s %12.6g  %.4f%n", k, names == null ? "" : names.get(k), z[k], p[k]);
        }
    }

    private ObjectNode toJson(ModelConfig c, List<float[]> logits) throws IOException {
        ObjectNode root = JsonOption.object();
        root.set("model", JsonOption.MAPPER.readTree(ConfigJson.toJson(c)));
        root.put("weights", weights.weights.toString());
        if (names != null) {
            ArrayNode n = root.putArray("classes");
            names.forEach(n::add);
        }
        ArrayNode arr = root.putArray("images");
        for (int i = 0; i < logits.size(); i++) {
            float[] z = logits.get(i);
            double[] p = probabilities(z, c.loss());
            ObjectNode o = arr.addObject();
            o.put("image", paths.get(i).toString());
            ArrayNode l = o.putArray("logits");
            for (float v : z) l.add(v);
            ArrayNode t = o.putArray("top");
            for (int k : topK(z, top)) {
                ObjectNode e = t.addObject().put("class", k);
                if (names != null) e.put("name", names.get(k));
                e.put("logit", z[k]).put("probability", p[k]);
            }
        }
        return root;
    }
}
