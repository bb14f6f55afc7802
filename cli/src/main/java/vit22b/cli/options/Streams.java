package vit22b.cli.options;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/** picocli's writers as the PrintStreams engine code logs to, so all output goes through picocli. */
public final class Streams {
    private Streams() {}

    /** Bytes are decoded at each flush (PrintStream flushes whole lines), so a UTF-8 character is never split. */
    public static PrintStream printStream(PrintWriter w) {
        return new PrintStream(new OutputStream() {
            private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
            @Override public synchronized void write(int b) { pending.write(b); }
            @Override public synchronized void write(byte[] b, int off, int len) { pending.write(b, off, len); }
            @Override public synchronized void flush() {
                w.write(pending.toString(StandardCharsets.UTF_8));
                pending.reset();
                w.flush();
            }
        }, true, StandardCharsets.UTF_8);
    }
}
