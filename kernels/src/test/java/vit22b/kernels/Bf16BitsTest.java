package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernels' fp32 -> bf16 rounding (bf16_bits_rne in src/main/cuda/bf16.cuh, compiled by g++
 * through src/test/cpp/bf16_bits.cpp: the very function f32_to_bf16 runs) against a rounding
 * computed here independently, by arithmetic on doubles rather than on bits: every special value
 * (NaN payloads in high and low bits, both signs, +-Inf, +-0, the largest finite values rounding up
 * to Inf, denormals, ties to even at several exponents) and a million random bit patterns.
 * Skips without g++.
 */
class Bf16BitsTest {
    static Path exe;

    @BeforeAll static void build() throws IOException, InterruptedException {
        Path dir = Path.of("target", "cpp");
        Files.createDirectories(dir);
        exe = dir.resolve("bf16_bits");
        Process p;
        try {
            p = new ProcessBuilder("g++", "-O2", "-Wall", "-Werror", "-o", exe.toString(), "src/test/cpp/bf16_bits.cpp")
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "g++ not found: " + e.getMessage());
            return;
        }
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "g++ failed:\n" + log);
    }

    /** bf16 bits of x by arithmetic: round x to 8 significant bits (ties to even), Inf past the range. */
    static int reference(float x) {
        if (Float.isNaN(x)) return -1;   // any quiet NaN of x's sign: checked separately
        if (Float.isInfinite(x) || x == 0) return Float.floatToRawIntBits(x) >>> 16;
        int e = Math.max(Math.getExponent(x), Float.MIN_EXPONENT);   // bf16 has fp32's exponent range
        double ulp = Math.scalb(1.0, e - 7);                         // 8 significant bits
        double r = Math.rint(x / ulp) * ulp;                         // rint: ties to even
        return Float.floatToRawIntBits((float) r) >>> 16;           // exact, or Inf past the largest bf16
    }

    static int[] run(List<Integer> inputs) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(exe.toString()).start();
        Thread writer = Thread.ofPlatform().start(() -> {
            try (var out = p.getOutputStream()) {
                StringBuilder sb = new StringBuilder(inputs.size() * 9);
                for (int u : inputs) sb.append(Integer.toHexString(u)).append('\n');
                out.write(sb.toString().getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        String[] lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).split("\n");
        writer.join();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "bf16_bits failed");
        assertEquals(inputs.size(), lines.length, "one output per input");
        int[] r = new int[lines.length];
        for (int i = 0; i < lines.length; i++) r[i] = Integer.parseInt(lines[i].strip(), 16);
        return r;
    }

    static void check(List<Integer> inputs) throws IOException, InterruptedException {
        int[] got = run(inputs);
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < got.length && bad.size() < 10; i++) {
            int u = inputs.get(i);
            float x = Float.intBitsToFloat(u);
            int want = reference(x);
            boolean ok;
            if (want == -1) ok = (got[i] & 0x7f80) == 0x7f80 && (got[i] & 0x0040) != 0 && (got[i] >>> 15) == (u >>> 31);
            else ok = got[i] == want;
            if (!ok) bad.add(String.format("fp32 0x%08x (%s): got bf16 0x%04x, want %s", u, x, got[i],
                    want == -1 ? "a quiet NaN of the same sign" : String.format("0x%04x", want)));
        }
        assertTrue(bad.isEmpty(), "bf16 rounding mismatches:\n  " + String.join("\n  ", bad));
    }

    @Test void specialValues() throws Exception {
        List<Integer> in = new ArrayList<>();
        for (int sign : new int[] {0, 0x8000_0000}) {
            for (int u : new int[] {
                    0x7f80_0001, 0x7f80_7fff, 0x7f80_8000, 0x7f80_ffff, 0x7fbf_ffff, 0x7fc0_0000, 0x7fff_ffff, // NaNs
                    0x7f80_0000, 0x0000_0000,                                                              // Inf, 0
                    0x7f7f_ffff, 0x7f7f_8000, 0x7f7f_7fff, 0x7f7f_0000, 0x7f7e_8000,                       // top of range
                    0x0000_0001, 0x0000_7fff, 0x0000_8000, 0x0000_8001, 0x0001_8000, 0x007f_ffff, 0x0080_0000, // denormals
                    0x3f80_8000, 0x3f81_8000, 0x3f80_8001, 0x3f81_7fff, 0x4049_0fdb, 0x0100_8000, 0x7e81_8000}) // ties, pi
                in.add(u | sign);
        }
        check(in);
    }

    @Test void randomBitPatterns() throws Exception {
        long seed = System.nanoTime();
        System.out.println("Bf16BitsTest.randomBitPatterns seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        List<Integer> in = new ArrayList<>();
        for (int i = 0; i < 1_000_000; i++) {
            int u = r.nextInt();
            if (i % 4 == 0) u = (u & ~0xffff) | 0x8000;   // exact ties, a quarter of them
            in.add(u);
        }
        check(in);
    }
}
