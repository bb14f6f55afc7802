package vit22b.mesh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import vit22b.graph.Cost;
import vit22b.graph.TaskGraph;

/**
 * What an executor did (CPU threads, or CUDA streams timed by events): each task's start and end
 * on its device and queue. Written as Chrome trace events (viewable in chrome://tracing or
 * ui.perfetto.dev: one process per device, one thread per queue, communication tasks in
 * category "comm"), with {@link #note notes} as metadata.
 */
public final class Trace {

    /** One task's run; times in nanoseconds of System.nanoTime. */
    public record Event(int rank, TaskGraph.Queue queue, String name, boolean comm, long start, long end) {}

    private final ConcurrentLinkedQueue<Event> events = new ConcurrentLinkedQueue<>();
    private final Map<String, String> notes = new java.util.concurrent.ConcurrentSkipListMap<>();

    /** Records task t's run on device {@code rank} (the executors call this). */
    public void record(int rank, TaskGraph.Task t, long start, long end) {
        events.add(new Event(rank, t.queue(), t.name(), t.cost() instanceof Cost.Collective, start, end));
    }

    /** A line of the trace's metadata (Chrome's "otherData"), e.g. where its times come from. */
    public void note(String key, String value) { notes.put(key, value); }

    public List<Event> events() {
        return events.stream().sorted(Comparator.comparingLong(Event::start)).toList();
    }

    /**
     * Time in nanoseconds during which device {@code rank} was communicating and not computing:
     * the union of its communication tasks minus the union of its compute tasks.
     */
    public long exposedCommunication(int rank) {
        List<long[]> comm = union(rank, true), compute = union(rank, false);
        long exposed = 0;
        for (long[] c : comm) {
            long covered = 0;
            for (long[] k : compute) covered += Math.max(0, Math.min(c[1], k[1]) - Math.max(c[0], k[0]));
            exposed += c[1] - c[0] - covered;
        }
        return exposed;
    }

    /** Total time in nanoseconds of device {@code rank}'s communication (or compute) tasks, overlaps merged. */
    public long busy(int rank, boolean comm) {
        long s = 0;
        for (long[] i : union(rank, comm)) s += i[1] - i[0];
        return s;
    }

    /** First start to last end over all devices, in nanoseconds. */
    public long span() {
        long a = Long.MAX_VALUE, b = Long.MIN_VALUE;
        for (Event e : events) {
            a = Math.min(a, e.start());
            b = Math.max(b, e.end());
        }
        return events.isEmpty() ? 0 : b - a;
    }

    /** Disjoint, sorted intervals covered by rank's tasks of one kind. */
    private List<long[]> union(int rank, boolean comm) {
        List<long[]> in = events.stream().filter(e -> e.rank() == rank && e.comm() == comm && e.end() > e.start())
                .map(e -> new long[]{e.start(), e.end()}).sorted(Comparator.comparingLong(x -> x[0])).toList();
        List<long[]> out = new ArrayList<>();
        for (long[] i : in) {
            if (!out.isEmpty() && i[0] <= out.getLast()[1]) out.getLast()[1] = Math.max(out.getLast()[1], i[1]);
            else out.add(i.clone());
        }
        return out;
    }

    /** Writes the Chrome trace event JSON (times in microseconds from the first task). */
    public void write(Path file) throws IOException {
        List<Event> es = events();
        long t0 = es.isEmpty() ? 0 : es.getFirst().start();
        List<Map<String, Object>> out = new ArrayList<>();
        es.stream().map(Event::rank).distinct().sorted().forEach(r -> {
            out.add(meta("process_name", r, 0, "device " + r));
            for (TaskGraph.Queue q : TaskGraph.Queue.values()) out.add(meta("thread_name", r, q.ordinal(), q.name().toLowerCase() + " queue"));
        });
        for (Event e : es) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", e.name());
            m.put("cat", e.comm() ? "comm" : "compute");
            m.put("ph", "X");
            m.put("ts", (e.start() - t0) / 1e3);
            m.put("dur", (e.end() - e.start()) / 1e3);
            m.put("pid", e.rank());
            m.put("tid", e.queue().ordinal());
            out.add(m);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("traceEvents", out);
        doc.put("displayTimeUnit", "ms");
        if (!notes.isEmpty()) doc.put("otherData", new LinkedHashMap<>(notes));
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), doc);
    }

    private static Map<String, Object> meta(String what, int pid, int tid, String name) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", what);
        m.put("ph", "M");
        m.put("pid", pid);
        m.put("tid", tid);
        m.put("args", Map.of("name", name));
        return m;
    }
}
