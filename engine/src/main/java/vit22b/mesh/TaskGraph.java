package vit22b.mesh;

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
 */
public final class TaskGraph {

    public enum Queue { COMPUTE, COMM }

    /** A task; {@code body} is null in graphs built for simulation only. */
    public record Task(int id, String name, Queue queue, Cost cost, int[] deps, Runnable body) {}

    private final boolean overlap;
    private final List<Task> tasks = new ArrayList<>();

    public TaskGraph(boolean overlap) { this.overlap = overlap; }

    public boolean overlap() { return overlap; }

    /** Adds a compute task. */
    public Task compute(String name, Cost cost, Runnable body, Task... deps) {
        return add(name, Queue.COMPUTE, cost, body, deps);
    }

    /** Adds a communication task (on the compute queue when overlap is off). */
    public Task comm(String name, Cost cost, Runnable body, Task... deps) {
        return add(name, overlap ? Queue.COMM : Queue.COMPUTE, cost, body, deps);
    }

    private Task add(String name, Queue q, Cost cost, Runnable body, Task... deps) {
        int[] d = new int[deps.length];
        int n = 0;
        for (Task t : deps) if (t != null) d[n++] = t.id();
        Task t = new Task(tasks.size(), name, q, cost, java.util.Arrays.copyOf(d, n), body);
        tasks.add(t);
        return t;
    }

    public List<Task> tasks() { return Collections.unmodifiableList(tasks); }

    public int size() { return tasks.size(); }
}
