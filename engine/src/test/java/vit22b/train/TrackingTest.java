package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * metrics.csv and TensorBoard event files. The event file is read back by an independent
 * decoder written here from the TFRecord and protobuf specifications, with its own bitwise
 * CRC32C checked against RFC 3720's test vectors (TensorBoard itself is not installed here).
 */
class TrackingTest {
    static final long SEED = 7341;

    /** CRC32C bit by bit (reflected Castagnoli polynomial 0x82F63B78), independent of java.util.zip. */
    static int crc32c(byte[] b, int off, int len) {
        int crc = 0xFFFFFFFF;
        for (int i = off; i < off + len; i++) {
            crc ^= b[i] & 0xFF;
            for (int k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82F63B78 & -(crc & 1));
        }
        return ~crc;
    }

    static int masked(int crc) { return Integer.rotateRight(crc, 15) + 0xa282ead8; }

    @Test void crc32cMatchesRfc3720Vectors() {
        byte[] zeros = new byte[32], ones = new byte[32], up = new byte[32], down = new byte[32];
        for (int i = 0; i < 32; i++) { ones[i] = (byte) 0xFF; up[i] = (byte) i; down[i] = (byte) (31 - i); }
        assertEquals(0x8A9136AA, crc32c(zeros, 0, 32));
        assertEquals(0x62A8AB43, crc32c(ones, 0, 32));
        assertEquals(0x46DD794E, crc32c(up, 0, 32));
        assertEquals(0x113FDB5C, crc32c(down, 0, 32));
        // The writer's masked CRC (java.util.zip.CRC32C) equals the masked independent one.
        for (byte[] v : new byte[][] {zeros, ones, up, down})
            assertEquals(masked(crc32c(v, 0, 32)), TensorBoardEvents.maskedCrc(v, 0, 32));
    }

    /** One decoded Event. */
    record Event(double wallTime, long step, String fileVersion, Map<String, Float> scalars, Integer sessionStatus) {}

    /** A protobuf reader for the fields an Event uses (varint, fixed64, fixed32, length-delimited). */
    static final class Reader {
        final ByteBuffer b;
        Reader(byte[] bytes) { b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN); }
        boolean more() { return b.hasRemaining(); }
        long varint() {
            long v = 0;
            for (int shift = 0; ; shift += 7) {
                int x = b.get() & 0xFF;
                v |= (long) (x & 0x7F) << shift;
                if (x < 0x80) return v;
            }
        }
        byte[] bytes() { byte[] out = new byte[(int) varint()]; b.get(out); return out; }
    }

    static Event decode(byte[] data) {
        Reader r = new Reader(data);
        double wall = Double.NaN;
        long step = 0;
        String version = null;
        Integer status = null;
        Map<String, Float> scalars = new LinkedHashMap<>();
        while (r.more()) {
            long key = r.varint();
            int field = (int) (key >>> 3), wire = (int) (key & 7);
            switch (field * 8 + wire) {
                case 1 * 8 + 1 -> wall = r.b.getDouble();
                case 2 * 8 + 0 -> step = r.varint();
                case 3 * 8 + 2 -> version = new String(r.bytes(), StandardCharsets.UTF_8);
                case 5 * 8 + 2 -> {
                    Reader s = new Reader(r.bytes());
                    while (s.more()) {
                        assertEquals(1 * 8 + 2, s.varint(), "Summary.value");
                        Reader v = new Reader(s.bytes());
                        String tag = null;
                        Float value = null;
                        while (v.more()) {
                            long k = v.varint();
                            if (k == 1 * 8 + 2) tag = new String(v.bytes(), StandardCharsets.UTF_8);
                            else if (k == 2 * 8 + 5) value = v.b.getFloat();
                            else throw new AssertionError("unexpected Summary.Value key " + k);
                        }
                        scalars.put(tag, value);
                    }
                }
                case 6 * 8 + 2 -> {
                    Reader s = new Reader(r.bytes());
                    assertEquals(1 * 8 + 0, s.varint(), "SessionLog.status");
                    status = (int) s.varint();
                }
                default -> throw new AssertionError("unexpected Event key field " + field + " wire " + wire);
            }
        }
        return new Event(wall, step, version, scalars, status);
    }

    /** Splits a TFRecord file, checking both CRCs of every record. */
    static List<Event> read(Path file) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> out = new ArrayList<>();
        while (b.hasRemaining()) {
            byte[] len = new byte[8];
            b.get(len);
            assertEquals(masked(crc32c(len, 0, 8)), b.getInt(), "length CRC of record " + out.size());
            byte[] data = new byte[(int) ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong()];
            b.get(data);
            assertEquals(masked(crc32c(data, 0, data.length)), b.getInt(), "data CRC of record " + out.size());
            out.add(decode(data));
        }
        return out;
    }

    @Test void eventFileReadsBackWithEveryScalar(@TempDir Path dir) throws Exception {
        System.out.println("TrackingTest seed " + SEED);
        SplittableRandom r = new SplittableRandom(SEED);
        List<Map<String, Object>> rows = new ArrayList<>();
        Path events;
        try (TensorBoardEvents tb = new TensorBoardEvents(dir, 0)) {
            events = tb.path();
            for (long step = 10; step <= 50; step += 10) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("step", step);
                row.put("time", 1.7e9 + step + r.nextDouble());
                row.put("loss", r.nextDouble() * 3);
                row.put("images_seen", step * 32);
                row.put("data_position", "0:" + step * 32);   // text: not a scalar
                if (step % 20 == 0) row.put("eval_accuracy", r.nextDouble());
                tb.write(row);
                rows.add(row);
            }
        }
        assertTrue(events.getFileName().toString().startsWith("events.out.tfevents."), events.toString());
        List<Event> ev = read(events);
        assertEquals(1 + rows.size(), ev.size());
        assertEquals("brain.Event:2", ev.getFirst().fileVersion());
        for (int i = 0; i < rows.size(); i++) {
            Map<String, Object> row = rows.get(i);
            Event e = ev.get(i + 1);
            assertEquals(((Number) row.get("step")).longValue(), e.step());
            assertEquals((double) row.get("time"), e.wallTime());
            assertEquals(row.containsKey("eval_accuracy") ? 3 : 2, e.scalars().size(), e.scalars().toString());
            assertEquals((float) (double) row.get("loss"), e.scalars().get("loss"));
            assertEquals((float) (long) row.get("images_seen"), e.scalars().get("images_seen"));
            if (row.containsKey("eval_accuracy")) assertEquals((float) (double) row.get("eval_accuracy"), e.scalars().get("eval_accuracy"));
        }
        // A resumed run's file starts with SessionLog START at the resume step.
        try (TensorBoardEvents tb = new TensorBoardEvents(dir, 30)) {
            List<Event> resumed = read(tb.path());
            assertEquals(2, resumed.size());
            assertEquals(30, resumed.get(1).step());
            assertEquals(1, resumed.get(1).sessionStatus());
        }
    }

    @Test void csvHasOneColumnPerMetricAndGrowsItsHeader(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("metrics.csv");
        Map<String, Object> first = new LinkedHashMap<>(Map.of("step", 1L));
        first.put("loss", 2.5);
        first.put("time", 1795982537.611);
        MetricsCsv csv = new MetricsCsv(f, List.of(first));
        Map<String, Object> second = new LinkedHashMap<>();
        second.put("step", 2L);
        second.put("loss", 2.0);
        second.put("attn", new double[] {1.5, 2.5});
        second.put("note", "a \"quoted\", text");
        csv.write(second);
        Map<String, Object> third = new LinkedHashMap<>();
        third.put("step", 3L);
        third.put("loss", 1.5);
        csv.write(third);
        List<String> lines = Files.readAllLines(f);
        assertEquals(List.of("step,loss,time,attn,note", "1,2.5,1795982537.611,,",
                "2,2.0,,\"[1.5,2.5]\",\"a \"\"quoted\"\", text\"", "3,1.5,,,"), lines);
    }

    @Test void metricsWriterFeedsItsSinks(@TempDir Path dir) throws Exception {
        List<Map<String, ?>> seen = new ArrayList<>();
        try (MetricsWriter w = new MetricsWriter(dir.resolve("metrics.jsonl"), false)) {
            w.addSink(seen::add);
            w.write(Map.of("step", 1, "loss", 0.5));
        }
        assertEquals(1, seen.size());
        assertArrayEquals(new Object[] {1, 0.5}, new Object[] {seen.get(0).get("step"), seen.get(0).get("loss")});
    }
}
