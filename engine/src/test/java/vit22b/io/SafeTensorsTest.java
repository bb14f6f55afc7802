package vit22b.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.testing.Check;

class SafeTensorsTest {
    @TempDir Path dir;

    private static Map<String, TensorData> sample(long seed) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("a.weight", TensorData.of(Check.randn(seed, 6, 1), 2, 3));
        t.put("b", TensorData.of(Check.randn(seed + 1, 5, 1), 5));
        t.put("c.scalar", TensorData.of(Check.randn(seed + 2, 1, 1)));
        return t;
    }

    @Test void roundTripKeepsNamesShapesDataAndMetadata() throws IOException {
        Path f = dir.resolve("m.safetensors");
        Map<String, TensorData> t = sample(1);
        Map<String, String> meta = Map.of("step", "42", "note", "héllo \"quoted\"");
        SafeTensors.write(f, t, meta);
        try (SafeTensorsFile r = SafeTensors.open(f)) {
            assertEquals(List.copyOf(t.keySet()), List.copyOf(r.names()));
            assertEquals(meta, r.metadata());
            for (var e : t.entrySet()) {
                assertArrayEquals(e.getValue().shape(), r.shape(e.getKey()));
                assertEquals(DType.F32, r.dtype(e.getKey()));
                assertArrayEquals(e.getValue().data().toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT), r.floats(e.getKey()));
            }
        }
        // Data starts 8-byte aligned, as the reference writer does it.
        long n = ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
    }

    /**
     * BF16 tensors are written as safetensors BF16 (two bytes each, the bits as stored) beside
     * F32 ones; reading converts when asked: floats() widens bf16 exactly, bf16() rounds float32
     * to nearest even. Fresh random values, seed printed.
     */
    @Test void bf16TensorsWriteAsBf16AndReadConverted() throws IOException {
        long seed = System.nanoTime();
        System.err.println("SafeTensorsTest.bf16TensorsWriteAsBf16AndReadConverted seed " + seed);
        float[] x = Check.randn(seed, 37, 3), y = Check.randn(seed + 1, 12, 1);
        Path f = dir.resolve("bf16.safetensors");
        try (vit22b.backend.cpu.CpuBackend be = new vit22b.backend.cpu.CpuBackend()) {
            vit22b.tensor.Tensor b = be.allocate(DType.BF16, 37);
            be.upload(b, x);   // rounds
            Map<String, TensorData> t = new LinkedHashMap<>();
            t.put("half", TensorData.of(b));
            t.put("full", TensorData.of(y, 3, 4));
            SafeTensors.write(f, t, Map.of());
            be.free(b);
        }
        try (SafeTensorsFile r = SafeTensors.open(f)) {
            assertEquals(DType.BF16, r.dtype("half"));
            assertEquals(DType.F32, r.dtype("full"));
            assertEquals(2L * 37, r.entry("half").end() - r.entry("half").begin());
            float[] wide = r.floats("half");
            short[] bits = r.bf16("half"), rounded = r.bf16("full");
            for (int i = 0; i < 37; i++) {
                assertEquals(vit22b.tensor.Bf16.round(x[i]), wide[i], 0f);
                assertEquals(vit22b.tensor.Bf16.fromFloat(x[i]), bits[i]);
            }
            for (int i = 0; i < 12; i++) assertEquals(vit22b.tensor.Bf16.fromFloat(y[i]), rounded[i]);
            assertArrayEquals(y, r.floats("full"));
        }
    }

    /** A file with {@code header} as its JSON and {@code data} after it. */
    private Path raw(String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path f = dir.resolve("raw.safetensors");
        Files.write(f, b.array());
        return f;
    }

    @Test void readsHalfBfloatAndDoubleAsFloat() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(4 + 4 + 16).order(ByteOrder.LITTLE_ENDIAN);
        d.putShort((short) 0x3E00).putShort((short) 0xC500);         // F16: 1.5, -5.0
        d.putShort((short) 0xC000).putShort((short) 0x3F80);         // BF16: -2.0, 1.0
        d.putDouble(0.1).putDouble(-3.25);                           // F64
        Path f = raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                + "\"d\":{\"dtype\":\"F64\",\"shape\":[1,2],\"data_offsets\":[8,24]}}", d.array());
        try (SafeTensorsFile r = SafeTensors.open(f)) {
            assertArrayEquals(new float[] {1.5f, -5f}, r.floats("h"));
            assertArrayEquals(new float[] {-2f, 1f}, r.floats("b"));
            assertArrayEquals(new float[] {0.1f, -3.25f}, r.floats("d"));
            assertEquals(Map.of(), r.metadata());
        }
    }

    private static void refused(Path f, String... fragments) {
        IOException e = assertThrows(IOException.class, () -> SafeTensors.open(f).close());
        assertTrue(e.getMessage().contains(f.toString()), "message names the file: " + e.getMessage());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    @Test void refusesTruncatedFiles() throws IOException {
        Path f = dir.resolve("t.safetensors");
        SafeTensors.write(f, sample(2), Map.of());
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, 5));
        refused(f, "truncated", "5 bytes");
        Files.write(f, java.util.Arrays.copyOf(all, 40));            // inside the header
        refused(f, "runs past the end");
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 4)); // inside the data
        refused(f, "lie outside the data section", "c.scalar");
    }

    @Test void refusesHeaderLengthBeyondLimitOrFile() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Path f = dir.resolve("len.safetensors");
        Files.write(f, b.array());
        refused(f, "header length 1000 runs past the end of the file (64 bytes)");
        b.putLong(0, 200L * 1024 * 1024);
        Files.write(f, b.array());
        refused(f, "outside [2, " + SafeTensors.MAX_HEADER + "]");
        b.putLong(0, -1L);
        Files.write(f, b.array());
        refused(f, "18446744073709551615");
    }

    @Test void refusesCorruptJson() throws IOException {
        refused(raw("{\"a\": {\"dtype\": \"F32\", ", new byte[0]), "not valid JSON");
        refused(raw("[1, 2, 3]", new byte[0]), "not a JSON object");
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "not valid JSON", "Duplicate");
        Path bad = dir.resolve("utf.safetensors");
        Files.write(bad, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(4)
                .put(new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}'}).array());
        refused(bad, "not valid UTF-8");
        refused(raw("{\"__metadata__\":{\"step\":3}}", new byte[0]), "'step' is not a string");
    }

    @Test void refusesUnknownDtype() throws IOException {
        refused(raw("{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[4]),
                "tensor 'a'", "dtype I8 is not supported", "F32", "convert the tensor to float32");
    }

    @Test void refusesOffsetsOutsideTheData() throws IOException {
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", new byte[16]),
                "tensor 'a'", "[0, 400)", "data section of 16 bytes");
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", new byte[16]), "tensor 'a'");
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", new byte[16]), "tensor 'a'");
    }

    @Test void refusesOverlappingTensors() throws IOException {
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]),
                "'a' [0, 8)", "'b' [4, 12)", "overlap");
    }

    @Test void refusesShapeTimesDtypeNotMatchingByteLength() throws IOException {
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]),
                "tensor 'a'", "[3] x F32 (4 bytes) = 12 bytes", "span 8 bytes");
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,8],\"data_offsets\":[0,8]}}", new byte[8]),
                "overflows");
        refused(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", new byte[8]), "non-negative");
    }

    @Test void failedWriteKeepsTheExistingFile() throws IOException {
        Path f = dir.resolve("keep.safetensors");
        Map<String, TensorData> old = sample(3);
        SafeTensors.write(f, old, Map.of("v", "1"));
        byte[] before = Files.readAllBytes(f);

        // The second tensor's memory is freed: the copy fails after the temp file has data.
        Arena arena = Arena.ofConfined();
        Map<String, TensorData> broken = new LinkedHashMap<>(sample(4));
        broken.put("freed", new TensorData(new int[] {4}, arena.allocate(16)));
        arena.close();
        assertThrows(IllegalStateException.class, () -> SafeTensors.write(f, broken, Map.of("v", "2")));
        assertArrayEquals(before, Files.readAllBytes(f));
        try (var s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList(), "no temporary file is left behind");
        }
    }

    @Test void readOnlyDirectoryIsAClearErrorAndKeepsTheFile() throws IOException {
        Path ro = Files.createDirectory(dir.resolve("ro"));
        Path f = ro.resolve("m.safetensors");
        SafeTensors.write(f, sample(5), Map.of());
        byte[] before = Files.readAllBytes(f);
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            Assumptions.assumeFalse(Files.isWritable(ro), "running as root: directory permissions are not enforced");
            IOException e = assertThrows(IOException.class, () -> SafeTensors.write(f, sample(6), Map.of()));
            assertTrue(e.getMessage().contains("not writable"), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(f));
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }
}
