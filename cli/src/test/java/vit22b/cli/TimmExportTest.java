package vit22b.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static vit22b.cli.Fixtures.vit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.train.Weights;

/**
 * {@code vit export --timm}: the folder's config.json has timm's layout, its model.safetensors
 * reads back as the same model; where python3 has torch, timm and safetensors (VIT_PYTHON, else
 * python3, /usr/bin/python3), bench/timm/load_timm.py loads it with timm.create_model and its
 * float64 logits match ours, and the state_dict safetensors writes back equals our parameters.
 */
class TimmExportTest {
    static final long SEED = 31337;
    static final Path SCRIPT = Path.of("..", "bench", "timm", "load_timm.py");
    @TempDir Path dir;

    @Test void exportWritesTimmFolder() throws Exception {
        System.out.println("TimmExportTest seed " + SEED);
        // Random weights of size ~0.25, so that logits are O(1) and a wrong layout shows.
        Path ckpt = Fixtures.modelFile(dir, Fixtures.tiny(), Fixtures.randomParams(Fixtures.tiny(), SEED));
        Path out = dir.resolve("timm");
        var r = vit("export", "--weights", ckpt.toString(), "--timm", out.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode cfg = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        ModelConfig c = Fixtures.tiny();
        assertEquals(c.width(), cfg.at("/model_args/embed_dim").asInt());
        assertEquals("map", cfg.at("/model_args/global_pool").asText());
        assertEquals(c.imageSize(), cfg.at("/pretrained_cfg/input_size/1").asInt());
        Weights.Host original = Weights.read(ckpt), exported = Weights.read(out.resolve("model.safetensors"));
        assertEquals(original.config().width(), exported.config().width());
        assertArrayEquals(original.params(), exported.params());

        String python = timmPython();
        Assumptions.assumeTrue(python != null, "no python3 with torch, timm and safetensors (set VIT_PYTHON)");
        int n = 3, per = c.channels() * c.imageSize() * c.imageSize();
        float[] x = new float[n * per];
        SplittableRandom rnd = new SplittableRandom(SEED);
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextDouble() * 2 - 1);
        Path in = dir.resolve("x.f32"), logitsFile = dir.resolve("logits.f32"), resaved = dir.resolve("resaved.safetensors");
        Files.write(in, floats(x));
        String report = run(python, SCRIPT.toString(), out.toString(), "--input", in.toString(),
                "--output", logitsFile.toString(), "--resave", resaved.toString());
        float[] theirs = floats(Files.readAllBytes(logitsFile));
        float[] ours;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, original.config())) {
            be.upload(vit.params(), original.params());
            var t = be.allocate(n, c.channels(), c.imageSize(), c.imageSize());
            be.upload(t, x);
            ours = be.download(vit.forward(t));
            be.free(t);
        }
        assertEquals(ours.length, theirs.length);
        double worst = 0, scale = 0;
        for (int i = 0; i < ours.length; i++) { worst = Math.max(worst, Math.abs(ours[i] - theirs[i])); scale = Math.max(scale, Math.abs(theirs[i])); }
        System.out.printf("timm logits vs ours: max |diff| %.3g (max |logit| %.3g); %s%n", worst, scale, report.trim());
        assertTrue(worst <= 1e-4 * Math.max(1, scale), "max |diff| " + worst);
        assertArrayEquals(original.params(), Weights.read(resaved).params(), "safetensors/torch round trip");
    }

    static byte[] floats(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    static float[] floats(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[bytes.length / 4];
        for (int i = 0; i < v.length; i++) v[i] = b.getFloat();
        return v;
    }

    static String timmPython() {
        List<String> candidates = new ArrayList<>();
        if (System.getenv("VIT_PYTHON") != null) candidates.add(System.getenv("VIT_PYTHON"));
        candidates.addAll(List.of("python3", "/usr/bin/python3"));
        for (String c : candidates) {
            try {
                run(c, "-c", "import torch, timm, safetensors");
                return c;
            } catch (IOException | AssertionError | InterruptedException e) {
                // not this one
            }
        }
        return null;
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS)) { p.destroyForcibly(); throw new AssertionError("timed out: " + String.join(" ", cmd)); }
        if (p.exitValue() != 0) throw new AssertionError(String.join(" ", cmd) + " exited " + p.exitValue() + ":\n" + out);
        return out;
    }
}
