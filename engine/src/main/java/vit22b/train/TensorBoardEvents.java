package vit22b.train;

import java.io.IOException;
import java.io.OutputStream;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * A TensorBoard event file ({@code events.out.tfevents.<seconds>.<host>}) of scalar summaries,
 * so that {@code tensorboard --logdir runs} shows the curves of every run folder.
 *
 * <p>Format (TensorFlow's TFRecord framing of {@code tensorflow.Event} protobufs): each record
 * is {@code uint64 length, uint32 masked_crc32c(length bytes), data, uint32 masked_crc32c(data)},
 * little-endian, where {@code masked(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8}. The Event
 * message: {@code double wall_time = 1; int64 step = 2; string file_version = 3;
 * Summary summary = 5; SessionLog session_log = 6}; {@code Summary { repeated Value value = 1 }},
 * {@code Value { string tag = 1; float simple_value = 2 }}, {@code SessionLog { Status status = 1 }}
 * with START = 1. Each numeric metric of a row becomes a scalar tagged with its name, at the
 * row's step. Records are flushed as written, so TensorBoard follows a running job.
 */
public final class TensorBoardEvents implements MetricsSink {
    static final int MASK_DELTA = 0xa282ead8;

    private final Path path;
    private final OutputStream out;

    /**
     * Creates a new event file in {@code dir}. {@code resumeStep > 0} writes a SessionLog START
     * at that step, which makes TensorBoard drop the earlier files' events from that step on
     * (those of the interrupted run after its checkpoint).
     */
    public TensorBoardEvents(Path dir, long resumeStep) throws IOException {
        Files.createDirectories(dir);
        double now = System.currentTimeMillis() / 1000.0;
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        Path p = dir.resolve("events.out.tfevents." + (long) now + "." + host);
        for (int i = 1; Files.exists(p); i++) p = dir.resolve("events.out.tfevents." + (long) now + "." + host + "." + i);
        this.path = p;
        this.out = Files.newOutputStream(p);
        Proto e = new Proto().doubleField(1, now).stringField(3, "brain.Event:2");
        record(e.bytes());
        if (resumeStep > 0) record(new Proto().doubleField(1, now).int64Field(2, resumeStep)
                .messageField(6, new Proto().int64Field(1, 1)).bytes());
        out.flush();
    }

    public Path path() { return path; }

    @Override public void write(Map<String, ?> row) throws IOException {
        if (!(row.get("step") instanceof Number step)) return;
        Proto summary = new Proto();
        for (var e : row.entrySet()) {
            if (e.getKey().equals("step") || e.getKey().equals("time") || !(e.getValue() instanceof Number v)) continue;
            summary.messageField(1, new Proto().stringField(1, e.getKey()).floatField(2, v.floatValue()));
        }
        double wall = row.get("time") instanceof Number t ? t.doubleValue() : System.currentTimeMillis() / 1000.0;
        record(new Proto().doubleField(1, wall).int64Field(2, step.longValue()).messageField(5, summary).bytes());
        out.flush();
    }

    private void record(byte[] data) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(data.length);
        head.putInt(maskedCrc(head.array(), 0, 8));
        out.write(head.array());
        out.write(data);
        out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(maskedCrc(data, 0, data.length)).array());
    }

    static int maskedCrc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        int crc = (int) c.getValue();
        return ((crc >>> 15) | (crc << 17)) + MASK_DELTA;
    }

    @Override public void close() throws IOException { out.close(); }

    /** The few protobuf encodings an Event needs: varint keys, fixed64 double, fixed32 float, length-delimited. */
    static final class Proto {
        private final ByteArrayOutputStream b = new ByteArrayOutputStream();

        Proto doubleField(int field, double v) { key(field, 1); fixed(Double.doubleToLongBits(v), 8); return this; }
        Proto floatField(int field, float v) { key(field, 5); fixed(Float.floatToIntBits(v), 4); return this; }
        Proto int64Field(int field, long v) { key(field, 0); varint(v); return this; }
        Proto stringField(int field, String s) { return bytesField(field, s.getBytes(StandardCharsets.UTF_8)); }
        Proto messageField(int field, Proto m) { return bytesField(field, m.bytes()); }

        Proto bytesField(int field, byte[] v) {
            key(field, 2);
            varint(v.length);
            b.writeBytes(v);
            return this;
        }

        byte[] bytes() { return b.toByteArray(); }

        private void key(int field, int wireType) { varint(((long) field << 3) | wireType); }

        private void varint(long v) {
            while ((v & ~0x7FL) != 0) { b.write((int) ((v & 0x7F) | 0x80)); v >>>= 7; }
            b.write((int) v);
        }

        private void fixed(long v, int bytes) { for (int i = 0; i < bytes; i++) b.write((int) (v >>> (8 * i))); }
    }
}
