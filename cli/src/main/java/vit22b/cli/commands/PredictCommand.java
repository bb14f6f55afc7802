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

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.backend.cpu.CpuBackend;
import vit22b.data.Image;
import vit22b.data.Images;
import vit22b.io.ConfigJson;
import vit22b.io.ModelFiles;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Classify images with a safetensors model file (ours, or a timm-layout file written elsewhere) "
                + "on the CPU backend; prints the logits and the top classes per image.")
public final class PredictCommand implements Callable<Integer> {
    /** Images per forward pass: bounds activation memory for long image lists. */
    private static final int BATCH = 16;

    @Option(names = "--weights", required = true, paramLabel = "FILE", description = "Model file (.safetensors).")
    Path weights;

    @Option(names = "--image", required = true, arity = "1..*", paramLabel = "IMG", description = "PNG or JPEG images.")
    List<Path> images;

    @Option(names = "--gelu", paramLabel = "tanh|exact",
            description = "GELU of a timm-layout file (default tanh); our files record it.")
    String gelu;

    @Option(names = "--norm", paramLabel = "rms|layer",
            description = "Norm of a timm-layout file (default rms); our files record it.")
    String norm;

    @Option(names = "--loss", paramLabel = "sigmoid|softmax",
            description = "How a timm-layout file's logits become probabilities (default sigmoid); our files record it.")
    String loss;

    @Option(names = "--top", defaultValue = "5", paramLabel = "K", description = "Classes listed per image (default 5).")
    int top;

    @Option(names = "--json", description = "One JSON object instead of text.")
    boolean json;

    @Option(names = "--allow-nonfinite", description = "load weights holding NaN or infinity instead of refusing them")
    boolean allowNonfinite;

    @Spec CommandSpec spec;

    @Override public Integer call() throws IOException {
        if (top < 1) throw new IllegalArgumentException("--top must be at least 1, got " + top);
        ModelFiles.Flags flags = new ModelFiles.Flags(
                gelu == null ? null : ConfigJson.parse(GeluKind.class, gelu),
                norm == null ? null : ConfigJson.parse(NormKind.class, norm),
                loss == null ? null : ConfigJson.parse(LossKind.class, loss));
        try (ModelFiles.Loaded file = ModelFiles.load(weights, flags, allowNonfinite)) {
            ModelConfig c = file.config();
            if (c.classes() == 0)
                throw new IllegalArgumentException(weights + " has no classifier (head.weight); predict needs a model with classes");
            List<Image> inputs = new ArrayList<>();
            for (Path p : images) inputs.add(prepare(p, c));   // all decoded first: a bad image fails fast
            List<float[]> logits = new ArrayList<>();
            try (CpuBackend backend = new CpuBackend(); ViT model = new ViT(backend, c)) {
                backend.copy(model.params(), new Tensor(file.params(), 0, model.params().shape()));
                for (int i = 0; i < inputs.size(); i += BATCH)
                    logits.addAll(forward(model, inputs.subList(i, Math.min(inputs.size(), i + BATCH))));
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json) out.println(toJson(c, logits));
            else printText(out, c, logits);
            out.flush();
        }
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
            out.println(images.get(i));
            StringBuilder all = new StringBuilder();
            for (float v : z) all.append(all.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.6g", v));
            out.println("  logits: [" + all + "]");
            out.printf("  top %d (class, logit, %s probability):%n", Math.min(top, z.length), lower(c.loss()));
            for (int k : topK(z, top)) out.printf(Locale.ROOT, "    %5d  %12.6g  %.4f%n", k, z[k], p[k]);
        }
    }

    private String toJson(ModelConfig c, List<float[]> logits) throws IOException {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.set("model", m.readTree(ConfigJson.toJson(c)));
        root.put("weights", weights.toString());
        ArrayNode arr = root.putArray("images");
        for (int i = 0; i < logits.size(); i++) {
            float[] z = logits.get(i);
            double[] p = probabilities(z, c.loss());
            ObjectNode o = arr.addObject();
            o.put("image", images.get(i).toString());
            ArrayNode l = o.putArray("logits");
            for (float v : z) l.add(v);
            ArrayNode t = o.putArray("top");
            for (int k : topK(z, top)) t.addObject().put("class", k).put("logit", z[k]).put("probability", p[k]);
        }
        return m.writeValueAsString(root);
    }
}
