package vit22b.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.testing.Check;

/**
 * Hostile files for the safetensors reader: random mutations of a valid file, for a bounded
 * time, and a file cut short while it is mapped. Every outcome must be an IOException naming
 * the file or a load whose tensors all read in full, never another exception.
 */
class SafeTensorsFuzzTest {
    static final long MILLIS = 3000;
    private static final String JSONISH = "{}[]\",:0123456789-eE.nul \u0000\u00ff";

    static byte[] valid(Path dir) throws IOException {
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("a.weight", TensorData.of(Check.randn(1, 24, 1), 4, 6));
        t.put("b", TensorData.of(Check.randn(2, 5, 1), 5));
        t.put("c.bias", TensorData.of(Check.randn(3, 16, 1), 2, 2, 4));
        Path f = dir.resolve("valid.safetensors");
        SafeTensors.write(f, t, Map.of("vit22b.step", "12", "note", "x"));
        return Files.readAllBytes(f);
    }

    /** One random change: flipped bits, overwritten, inserted or removed bytes, truncation, or a changed length field. */
    static byte[] mutate(byte[] b, SplittableRandom r) {
        if (b.length < 9) return Arrays.copyOf(b, b.length + 1);
        long declared = Long.reverseBytes(java.nio.ByteBuffer.wrap(b).getLong());
        int headerEnd = 8 + (int) Math.max(0, Math.min(b.length - 8, declared));
        int at = r.nextInt(4) == 0 ? r.nextInt(b.length) : r.nextInt(Math.max(1, headerEnd));   // mostly the header
        switch (r.nextInt(7)) {
            case 0 -> { byte[] c = b.clone(); c[at] ^= (byte) (1 << r.nextInt(8)); return c; }
            case 1 -> { byte[] c = b.clone(); c[at] = (byte) JSONISH.charAt(r.nextInt(JSONISH.length())); return c; }
            case 2 -> { return Arrays.copyOf(b, r.nextInt(b.length)); }
            case 3 -> { byte[] c = new byte[b.length + 1 + r.nextInt(16)]; System.arraycopy(b, 0, c, 0, at);
                        for (int i = at; i < at + c.length - b.length; i++) c[i] = (byte) r.nextInt(256);
                        System.arraycopy(b, at, c, at + c.length - b.length, b.length - at); return c; }
            case 4 -> { int n = Math.min(b.length - at, 1 + r.nextInt(16)); byte[] c = new byte[b.length - n];
                        System.arraycopy(b, 0, c, 0, at); System.arraycopy(b, at + n, c, at, b.length - at - n); return c; }
            case 5 -> { byte[] c = b.clone(); c[r.nextInt(8)] = (byte) r.nextInt(256); return c; }
            default -> { // replace a number in the header with an extreme one
                String h = new String(b, 8, headerEnd - 8, StandardCharsets.ISO_8859_1);
                String[] big = {"-1", "9223372036854775807", "18446744073709551616", "2147483648", "1e300", "0", "0.5"};
                String m = h.replaceFirst("\\d+", big[r.nextInt(big.length)]);
                byte[] nh = m.getBytes(StandardCharsets.ISO_8859_1);
                byte[] c = new byte[8 + nh.length + b.length - headerEnd];
                java.nio.ByteBuffer.wrap(c).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(nh.length);
                System.arraycopy(nh, 0, c, 8, nh.length);
                System.arraycopy(b, headerEnd, c, 8 + nh.length, b.length - headerEnd);
                return c;
            }
        }
    }

    @Test void randomMutationsGiveACleanErrorOrAFullLoad(@TempDir Path dir) throws IOException {
        byte[] good = valid(dir);
        long seed = System.nanoTime();
        SplittableRandom r = new SplittableRandom(seed);
        Path f = dir.resolve("mutant.safetensors");
        int runs = 0, loaded = 0;
        long end = System.currentTimeMillis() + MILLIS;
        while (System.currentTimeMillis() < end) {
            byte[] m = good;
            for (int k = 1 + r.nextInt(3); k > 0; k--) m = mutate(m, r);
            Files.write(f, m);
            runs++;
            try (SafeTensorsFile s = SafeTensors.open(f)) {
                for (String name : s.names()) {
                    float[] x = s.floats(name);
                    assertEquals(Arrays.stream(s.shape(name)).asLongStream().reduce(1, (a, b) -> a * b), x.length, name);
                }
                loaded++;
            } catch (IOException e) {
                assertTrue(e.getMessage().contains(f.toString()), "the error must name the file: " + e.getMessage());
            } catch (RuntimeException | Error e) {
                Files.write(dir.resolve("crash.safetensors"), m);
                throw new AssertionError("seed " + seed + " run " + runs + ": " + e + " (the file is in " + dir + ")", e);
            }
        }
        System.out.printf("safetensors fuzz: seed %d, %d mutated files, %d loaded in full, %d refused%n", seed, runs, loaded, runs - loaded);
        assertTrue(runs > 100 && loaded > 0 && loaded < runs, runs + " runs, " + loaded + " loaded");
    }

    @Test void aFileCutShortWhileMappedIsAnIoErrorNotACrash(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("big.safetensors");
        float[] data = Check.randn(5, 1 << 20, 1);
        SafeTensors.write(f, Map.of("w", TensorData.of(data, data.length)), Map.of());
        try (SafeTensorsFile s = SafeTensors.open(f)) {
            assertArrayEquals(data, s.floats("w"));
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) { ch.truncate(4096); }
            var e = assertThrows(IOException.class, () -> s.floats("w"));
            assertTrue(e.getMessage().contains("cut short") && e.getMessage().contains(f.toString()), e.getMessage());
        }
    }
}
