package vit22b.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleUnaryOperator;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Anti-aliased resampling against (1) an independent float64 implementation of PIL's filters,
 * written here as a direct 2D sum over every input pixel, and (2) PIL itself through python3
 * when python3-pil is installed (skipped otherwise).
 */
class ResampleTest {
    static final long SEED = 4411;

    static DoubleUnaryOperator bilinear() { return x -> Math.max(0, 1 - Math.abs(x)); }

    /** Keys' cubic with a = -0.5 (PIL's BICUBIC), written out in full. */
    static DoubleUnaryOperator bicubic() {
        return x -> {
            double t = Math.abs(x), a = -0.5;
            if (t < 1) return (a + 2) * t * t * t - (a + 3) * t * t + 1;
            if (t < 2) return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
            return 0;
        };
    }

    /** Weights of every input pixel for output o along one axis (window [in0, in0 + len) of n pixels into out). */
    static double[] weights(int n, double in0, double len, int out, int o, DoubleUnaryOperator f, double support) {
        double scale = len / out, stretch = Math.max(scale, 1), center = in0 + (o + 0.5) * scale;
        double[] w = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double d = i + 0.5 - center;
            if (Math.abs(d) >= support * stretch + 0.5) continue;   // PIL's window: centres within support (rounded)
            w[i] = f.applyAsDouble(d / stretch);
            sum += w[i];
        }
        for (int i = 0; i < n; i++) w[i] /= sum;
        return w;
    }

    /** The resampled window, as a direct sum over all input pixels in float64. */
    static float[] reference(Image img, int top, int left, int h, int w, int outH, int outW, DoubleUnaryOperator f) {
        double support = f.applyAsDouble(1.5) == 0 ? 1 : 2;   // bilinear vanishes beyond 1, bicubic beyond 2
        int C = img.channels(), H = img.height(), W = img.width();
        float[] out = new float[C * outH * outW];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < outH; y++) {
                double[] wy = weights(H, top, h, outH, y, f, support);
                for (int x = 0; x < outW; x++) {
                    double[] wx = weights(W, left, w, outW, x, f, support);
                    double acc = 0;
                    for (int i = 0; i < H; i++) {
                        if (wy[i] == 0) continue;
                        for (int j = 0; j < W; j++) acc += wy[i] * wx[j] * img.at(c, i, j);
                    }
                    out[(c * outH + y) * outW + x] = (float) acc;
                }
            }
        return out;
    }

    static Image random(long seed, int c, int h, int w) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] px = new float[c * h * w];
        for (int i = 0; i < px.length; i++) px[i] = (float) (r.nextDouble() * 2 - 1);
        return new Image(c, h, w, px);
    }

    @Test void matchesTheFloat64ReferenceDownAndUp() {
        System.out.println("ResampleTest seed " + SEED);
        Image img = random(SEED, 3, 37, 53);
        int[][] shapes = {{12, 17}, {5, 9}, {37, 20}, {60, 71}, {24, 24}};
        for (Resample.Filter f : Resample.Filter.values())
            for (int[] s : shapes) {
                DoubleUnaryOperator ref = f == Resample.Filter.BILINEAR ? bilinear() : bicubic();
                assertArrayEquals(reference(img, 0, 0, 37, 53, s[0], s[1], ref),
                        Resample.resize(img, 0, 0, 37, 53, s[0], s[1], f).pixels(), 2e-6f, f + " to " + s[0] + "x" + s[1]);
                assertArrayEquals(reference(img, 4, 7, 21, 30, s[0], s[1], ref),
                        Resample.resize(img, 4, 7, 21, 30, s[0], s[1], f).pixels(), 2e-6f, f + " box to " + s[0] + "x" + s[1]);
            }
    }

    @Test void constantImageStaysConstant() {
        float[] px = new float[2 * 30 * 40];
        java.util.Arrays.fill(px, 0.375f);
        Image out = Resample.resize(new Image(2, 30, 40, px), 0, 0, 30, 40, 7, 11, Resample.Filter.BICUBIC);
        for (float v : out.pixels()) assertEquals(0.375f, v, 1e-6f);
    }

    /** PIL on mode "F" (float) images: the same algorithm, so agreement to float rounding. */
    @Test void matchesPil(@TempDir Path dir) throws Exception {
        assumeTrue(pilAvailable(), "python3 with PIL (apt-get install python3-pil) is not installed");
        int h = 29, w = 41;
        Image img = random(SEED + 1, 1, h, w);
        Path raw = dir.resolve("in.f32"), outFile = dir.resolve("out.f32");
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(h * w * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float v : img.pixels()) b.putFloat(v);
        Files.write(raw, b.array());
        for (Resample.Filter f : Resample.Filter.values())
            for (int[] s : new int[][] {{10, 13}, {64, 50}}) {
                String script = String.join("\n",
                        "from PIL import Image; import struct, sys",
                        "d = open(sys.argv[1], 'rb').read()",
                        "im = Image.frombytes('F', (" + w + ", " + h + "), d, 'raw', 'F;32F')",
                        "r = im.resize((" + s[1] + ", " + s[0] + "), Image." + f.name() + ", box=(3, 2, 3 + 30, 2 + 20))",
                        "open(sys.argv[2], 'wb').write(r.tobytes('raw', 'F;32F'))");
                run(python, "-c", script, raw.toString(), outFile.toString());
                java.nio.ByteBuffer o = java.nio.ByteBuffer.wrap(Files.readAllBytes(outFile)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                float[] pil = new float[s[0] * s[1]];
                for (int i = 0; i < pil.length; i++) pil[i] = o.getFloat();
                assertArrayEquals(pil, Resample.resize(img, 2, 3, 20, 30, s[0], s[1], f).pixels(), 1e-5f, f + " " + s[0] + "x" + s[1]);
            }
    }

    /** The first of python3 (PATH) and Debian's /usr/bin/python3 that imports PIL; null if none. */
    private static String python;

    static boolean pilAvailable() {
        for (String c : new String[] {"python3", "/usr/bin/python3"}) {
            try {
                if (run(c, "-c", "import PIL") == 0) { python = c; return true; }
            } catch (IOException | InterruptedException e) {
                // not this one
            }
        }
        return false;
    }

    private static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "python3 timed out");
        if (p.exitValue() != 0 && !cmd[2].equals("import PIL")) throw new AssertionError(String.join(" ", cmd) + ":\n" + out);
        return p.exitValue();
    }
}
