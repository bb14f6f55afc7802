package vit22b.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import vit22b.io.WriteFailures;

/**
 * A run folder taken by one training process: an exclusive OS lock on {@value #LOCK} (holding
 * the owner's pid) for as long as the run lives, so that a second run or a second
 * {@code --resume} of the same folder is refused instead of writing over the first; temporaries
 * left by a killed save are removed once the lock is held (nobody else can be writing them).
 * The OS drops the lock when the process dies, however it dies.
 */
public final class RunFolder implements AutoCloseable {
    public static final String LOCK = ".lock", CONFIG = "config.json", METRICS = "metrics.jsonl";
    /** What {@link #writeAtomically} and SafeTensors.write leave behind when killed: ".NAME.RANDOM.tmp". */
    private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.tmp");

    private final Path dir;
    private final FileChannel channel;
    private final FileLock lock;
    private final List<Path> removed;

    private RunFolder(Path dir, FileChannel channel, FileLock lock, List<Path> removed) {
        this.dir = dir;
        this.channel = channel;
        this.lock = lock;
        this.removed = removed;
    }

    /** Creates and locks {@code dir}; refuses, naming the holder's pid, when another process (or run) holds it. */
    public static RunFolder open(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path lockFile = dir.resolve(LOCK);
        FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {   // held by another run inside this JVM
            lock = null;
        } catch (IOException e) {
            ch.close();
            throw new IOException("cannot lock the run folder " + dir + " (" + e.getMessage() + "); use a local disk for --out", e);
        }
        if (lock == null) {
            String holder = holder(ch);
            ch.close();
            throw new IllegalStateException("run folder " + dir + " is in use by " + holder
                    + "; wait for that run to end or stop it, or choose another --out");
        }
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        ch.truncate(0);
        ch.write(ByteBuffer.wrap(pid), 0);
        ch.force(true);
        return new RunFolder(dir, ch, lock, removeTemporaries(dir));
    }

    private static String holder(FileChannel ch) {
        try {
            ByteBuffer b = ByteBuffer.allocate(32);
            ch.read(b, 0);
            String pid = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim();
            return pid.isEmpty() ? "another process" : "process " + pid;
        } catch (IOException e) {
            return "another process";
        }
    }

    private static List<Path> removeTemporaries(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList())
                if (TEMPORARY.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p)) {
                    Files.delete(p);
                    out.add(p.getFileName());
                }
        }
        return out;
    }

    public Path dir() { return dir; }

    /** Temporaries of interrupted saves that {@link #open} removed. */
    public List<Path> removedTemporaries() { return removed; }

    /** Writes the run's resolved recipe, {@value #CONFIG}. */
    public Path writeConfig(byte[] json) throws IOException { return writeAtomically(dir.resolve(CONFIG), json); }

    /** Replaces {@code target} with {@code bytes} so that a crash leaves the old or the new file, never a mix. */
    public static Path writeAtomically(Path target, byte[] bytes) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                WriteFailures.reserve(bytes.length);
                while (b.hasRemaining()) ch.write(b);
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("cannot write " + target + ": " + WriteFailures.explain(e) + "; the previous file is unchanged", e);
        }
        return target;
    }

    @Override public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
