package vit22b.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One device's part of a step (SPMD: every device runs the graph of its own rank): compute and
 * communication tasks on two in-order queues with dependencies. The same graph runs on the CPU
 * executor (bodies run for real) and on the simulator (costs become time).
 *
 * <p>Tasks are added in a topological order (dependencies first). Built with overlap off, every
 * task goes on the compute queue, so communication can no longer hide behind compute.
 *
 * <p>An {@link #eager} graph runs each task as it is added and keeps none: the unsharded model
 * on one device (what a CUDA graph capture of a training pass sees: the kernels, in order).
 *
 * <p>{@link #bytes} is the size of one activation or weight element the costs count: 4 for the
 * fp32 executors, 2 for the simulator's bf16 (gradients are reduced in fp32 either way).
 */
public final class TaskGraph {

    public enum Queue { COMPUTE, COMM }

    /** A task; {@code body} is null in graphs built for simulation only. */
    public record Task(int id, String name, Queue queue, Cost cost, int[] deps, Runnable body) {}

    private final boolean overlap, eager;
    private final int bytes;
    private final List<Task> tasks = new ArrayList<>();
    private int added;

    /** A graph of fp32 tasks to run on an executor later. */
    public TaskGraph(boolean overlap) { this(overlap, Float.BYTES, false); }

    /** A graph whose costs count {@code bytes} per activation or weight element. */
    public TaskGraph(boolean overlap, int bytes) { this(overlap, bytes, false); }

    private TaskGraph(boolean overlap, int bytes, boolean eager) {
        if (bytes <= 0) throw new IllegalArgumentException("bytes per element must be positive, got " + bytes);
        this.overlap = overlap;
        this.bytes = bytes;
        this.eager = eager;
    }

    /** A graph that runs every task as it is added, in the caller's thread, and keeps none. */
    public static TaskGraph eager() { return new TaskGraph(false, Float.BYTES, true); }

    public boolean overlap() { return overlap; }

    public boolean isEager() { return eager; }

    /** Bytes per activation or weight element in the costs. */
    public int bytes() { return bytes; }

    /** Adds a compute task. */
    public Task compute(String name, Cost cost, Runnable body, Task... deps) {
        return add(name, Queue.COMPUTE, cost, body, deps);
    }

    /** Adds a communication task (on the compute queue when overlap is off). */
    public Task comm(String name, Cost cost, Runnable body, Task... deps) {
        return add(name, overlap ? Queue.COMM : Queue.COMPUTE, cost, body, deps);
    }

    private Task add(String name, Queue q, Cost cost, Runnable body, Task... deps) {
        if (deps == null) deps = new Task[0];   // one null dependency passed as the whole varargs array
        int[] d = new int[deps.length];
        int n = 0;
        for (Task t : deps) if (t != null) d[n++] = t.id();
        Task t = new Task(added++, name, q, cost, n == d.length ? d : java.util.Arrays.copyOf(d, n), body);
        if (!eager) {
            tasks.add(t);
            return t;
        }
        if (body == null)
            throw new IllegalStateException("task '" + name + "' has no body: an eager graph runs every task it is given");
        body.run();
        return t;
    }

    public List<Task> tasks() { return Collections.unmodifiableList(tasks); }

    /** Tasks added so far (an eager graph keeps none of them). */
    public int size() { return tasks.size(); }
}
