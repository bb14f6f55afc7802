package vit22b.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The safetensors format: 8-byte little-endian header length n, n bytes of UTF-8 JSON
 * ({@code name -> {dtype, shape, data_offsets}} plus an optional {@code __metadata__} string
 * map), then the raw little-endian data, offsets relative to its start.
 *
 * <p>{@link #open} memory-maps a file and validates the whole header before any tensor is
 * touched. {@link #write} writes F32 and BF16 tensors to a temporary file beside the target,
 * syncs it and renames it over the target atomically, so a failed write never leaves a
 * damaged or missing file behind.
 */
public final class SafeTensors {
    /** Largest header accepted, as the reference implementation does. */
    public static final long MAX_HEADER = 100L * 1024 * 1024;
    public static final String METADATA = "__metadata__";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 1 << 20;

    private SafeTensors() {}

    /** One tensor of a file's header: byte range [begin, end) relative to the data section. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {
        public long elements() { return (end - begin) / dtype.size; }
        @Override public int[] shape() { return shape.clone(); }
    }

    // ---- reading ------------------------------------------------------------------------------

    /** Maps {@code file} and validates its header; close the returned handle to unmap it. */
    public static SafeTensorsFile open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment map;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 8)
                    throw error(file, "truncated: " + size + " bytes, shorter than the 8-byte header length");
                map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (NoSuchFileException e) {
                throw error(file, "no such file");
            }
            long n = map.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (n < 2 || n > MAX_HEADER)
                throw error(file, "header length " + Long.toUnsignedString(n) + " is outside [2, " + MAX_HEADER
                        + "] bytes; the file is corrupt or not safetensors");
            if (n > map.byteSize() - 8)
                throw error(file, "header length " + n + " runs past the end of the file (" + map.byteSize()
                        + " bytes); the file is truncated or corrupt");
            MemorySegment data = map.asSlice(8 + n);
            Parsed h = parseHeader(file, map.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE), data.byteSize());
            return new SafeTensorsFile(file, arena, data, h.entries, h.metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private record Parsed(Map<String, Entry> entries, Map<String, String> metadata) {}

    private static Parsed parseHeader(Path file, byte[] bytes, long dataSize) throws IOException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw error(file, "header is not valid UTF-8; the file is corrupt or not safetensors");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw error(file, "header is not valid JSON (" + e.getOriginalMessage() + "); the file is corrupt or not safetensors");
        }
        if (root == null || !root.isObject())
            throw error(file, "header is not a JSON object; the file is corrupt or not safetensors");

        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            var f = it.next();
            if (f.getKey().equals(METADATA)) parseMetadata(file, f.getValue(), metadata);
            else entries.put(f.getKey(), parseEntry(file, f.getKey(), f.getValue(), dataSize));
        }
        List<Entry> byOffset = new ArrayList<>(entries.values());
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < byOffset.size(); i++) {
            Entry a = byOffset.get(i - 1), b = byOffset.get(i);
            if (b.begin < a.end)
                throw error(file, "tensors '" + a.name + "' [" + a.begin + ", " + a.end + ") and '" + b.name
                        + "' [" + b.begin + ", " + b.end + ") overlap; the header is corrupt");
        }
        return new Parsed(entries, metadata);
    }

    private static void parseMetadata(Path file, JsonNode node, Map<String, String> out) throws IOException {
        if (!node.isObject()) throw error(file, METADATA + " must be a JSON object of strings");
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            var f = it.next();
            if (!f.getValue().isTextual())
                throw error(file, METADATA + " entry '" + f.getKey() + "' is not a string");
            out.put(f.getKey(), f.getValue().textValue());
        }
    }

    private static Entry parseEntry(Path file, String name, JsonNode node, long dataSize) throws IOException {
        String t = "tensor '" + name + "': ";
        if (!node.isObject()) throw error(file, t + "header entry is not a JSON object");
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets"))
                throw error(file, t + "unknown field '" + k + "' (expected dtype, shape, data_offsets)");
        }
        JsonNode dt = node.get("dtype"), sh = node.get("shape"), off = node.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw error(file, t + "missing or non-string dtype");
        DType dtype = DType.parse(dt.textValue());
        if (dtype == null)
            throw error(file, t + "dtype " + dt.textValue() + " is not supported (supported: " + DType.known()
                    + "); convert the tensor to float32 before loading");
        if (sh == null || !sh.isArray()) throw error(file, t + "missing or non-array shape");
        int[] shape = new int[sh.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToInt() || !d.isIntegralNumber() || d.intValue() < 0)
                throw error(file, t + "shape " + sh + " has a dimension that is not a non-negative int");
            shape[i] = d.intValue();
            elements = multiply(file, t, elements, shape[i]);
        }
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).canConvertToLong()
                || !off.get(1).canConvertToLong() || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber())
            throw error(file, t + "data_offsets must be two integers [begin, end]");
        long begin = off.get(0).longValue(), end = off.get(1).longValue();
        if (begin < 0 || end < begin || end > dataSize)
            throw error(file, t + "data_offsets [" + begin + ", " + end + ") lie outside the data section of "
                    + dataSize + " bytes; the file is truncated or its header is corrupt");
        long bytes = multiply(file, t, elements, dtype.size);
        if (end - begin != bytes)
            throw error(file, t + "shape " + Arrays.toString(shape) + " x " + dtype + " (" + dtype.size
                    + " bytes) = " + bytes + " bytes, but data_offsets span " + (end - begin) + " bytes");
        return new Entry(name, dtype, shape, begin, end);
    }

    private static long multiply(Path file, String t, long a, long b) throws IOException {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw error(file, t + "size overflows");
        }
    }

    static IOException error(Path file, String problem) {
        return new IOException(file + ": " + problem);
    }

    // ---- writing ------------------------------------------------------------------------------

    /**
     * Writes {@code tensors} (each as its F32 or BF16 dtype, in map order) and {@code metadata} to {@code file}
     * atomically: the data goes to a temporary file in the same directory, is synced, and is
     * renamed over {@code file}. On any failure the temporary file is removed and an existing
     * {@code file} is left as it was.
     */
    public static void write(Path file, Map<String, TensorData> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put(METADATA, metadata);
        long offset = 0;
        for (var e : tensors.entrySet()) {
            if (e.getKey().isEmpty() || e.getKey().equals(METADATA))
                throw new IllegalArgumentException("invalid tensor name '" + e.getKey() + "'");
            long bytes = e.getValue().data().byteSize();
            ObjectNode o = JSON.createObjectNode();
            o.put("dtype", e.getValue().dtype().name());
            ArrayNode s = o.putArray("shape");
            for (int d : e.getValue().shape()) s.add(d);
            o.putArray("data_offsets").add(offset).add(offset + bytes);
            header.put(e.getKey(), o);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;   // spaces keep the data 8-byte aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp;
        try {
            tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        } catch (AccessDeniedException e) {
            throw new IOException(file + ": cannot write: directory " + dir + " is not writable", e);
        } catch (IOException e) {
            throw new IOException(file + ": cannot create a temporary file in " + dir + ": " + e, e);
        }
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                writeFully(ch, head);
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
                MemorySegment bufSeg = MemorySegment.ofBuffer(buf);
                for (TensorData t : tensors.values()) {
                    MemorySegment src = t.data();
                    int size = t.dtype().size;
                    long count = src.byteSize() / size;
                    for (long i = 0; i < count; ) {
                        int n = (int) Math.min(CHUNK / size, count - i);
                        if (t.dtype() == DType.F32)
                            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED, i * size, bufSeg, LE_F32, 0, n);
                        else
                            MemorySegment.copy(src, ValueLayout.JAVA_SHORT_UNALIGNED, i * size, bufSeg, LE_16, 0, n);
                        buf.clear().limit(n * size);
                        writeFully(ch, buf);
                        i += n;
                    }
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
        } catch (IOException e) {
            throw new IOException("cannot write " + file + ": " + WriteFailures.explain(e) + "; every earlier file is unchanged", e);
        } finally {
            if (!done) Files.deleteIfExists(tmp);
        }
        syncDirectory(dir);
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        WriteFailures.reserve(b.remaining());
        while (b.hasRemaining()) ch.write(b);
    }

    /** Makes the rename durable. Linux allows syncing a directory; some systems refuse, and then the rename is already done. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not supported here (e.g. Windows): the file is complete; only durability across a crash is weaker.
        }
    }
}
