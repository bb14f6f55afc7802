package vit22b.cli;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import javax.imageio.ImageIO;

import picocli.CommandLine;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.ModelFiles;
import vit22b.io.SafeTensors;
import vit22b.io.TensorData;
import vit22b.model.Init;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.train.AdamW;
import vit22b.train.Checkpoints;

/** Small files for CLI tests: a test-tiny model as a checkpoint, a model file and a timm file; a class-folder dataset. */
public final class Fixtures {
    private Fixtures() {}

    /** The outcome of one {@code vit} invocation. */
    public record Run(int code, String out, String err) {}

    /** Runs {@code vit args...} in this JVM with picocli's streams captured. */
    public static Run vit(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int rc = cl.execute(args);
        return new Run(rc, out.toString(), err.toString());
    }

    public static ModelConfig tiny() { return Presets.get("test-tiny"); }

    /** A real training checkpoint (parameters, Adam moments, metadata) of a test-tiny model after one AdamW step. */
    public static Path checkpoint(Path dir, long seed) throws IOException {
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, tiny());
             AdamW opt = new AdamW(be, vit, new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 0.03f, 1f))) {
            Init.init(be, vit.layout(), vit.params(), seed);
            float[] g = new float[Math.toIntExact(vit.layout().total())];
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < g.length; i++) g[i] = (float) (r.nextDouble() - 0.5) * 1e-2f;
            be.upload(vit.grads(), g);
            opt.step(1e-3f);
            return new Checkpoints(dir.resolve("ckpts"), 1).save(vit, opt, "0", Map.of());
        }
    }

    /** Random parameters of {@code c}, seeded. */
    public static float[] randomParams(ModelConfig c, long seed) {
        float[] p = new float[Math.toIntExact(new ParamLayout(c).total())];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < p.length; i++) p[i] = (float) (r.nextDouble() - 0.5) * 0.5f;
        return p;
    }

    /** A timm-layout file: the parameters under their timm names, no metadata of ours. */
    public static Path timmFile(Path dir, ModelConfig c, float[] p) throws IOException {
        ParamLayout layout = new ParamLayout(c);
        var seg = java.lang.foreign.MemorySegment.ofArray(p);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : layout.entries())
            tensors.put(e.name(), new TensorData(e.shape(), seg.asSlice(e.offset() * Float.BYTES, e.size() * Float.BYTES)));
        Path f = dir.resolve("timm-" + c.name() + ".safetensors");
        SafeTensors.write(f, tensors, Map.of("format", "pt"));
        return f;
    }

    /** Our model file of {@code c} with {@code p}. */
    public static Path modelFile(Path dir, ModelConfig c, float[] p) throws IOException {
        Path f = dir.resolve(c.name() + ".safetensors");
        ModelFiles.save(f, new ParamLayout(c), p, Map.of());
        return f;
    }

    /**
     * A class-folder dataset root/{train,test}/CLASS/*.png of random RGB images of {@code size}
     * pixels, {@code perClass} images per class and split; class names c0, c1, ...
     */
    public static Path folderDataset(Path root, int classes, int perClass, int size, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        for (String split : new String[] {"train", "test"})
            for (int c = 0; c < classes; c++) {
                Path d = Files.createDirectories(root.resolve(split).resolve("c" + c));
                for (int i = 0; i < perClass; i++) {
                    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
                    for (int y = 0; y < size; y++)
                        for (int x = 0; x < size; x++) img.setRGB(x, y, r.nextInt(1 << 24));
                    ImageIO.write(img, "png", d.resolve(i + ".png").toFile());
                }
            }
        return root;
    }
}
