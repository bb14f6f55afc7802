package vit22b.mesh;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import vit22b.graph.TaskGraph;

/**
 * The CPU executor of task graphs: one thread per (device, queue); a queue takes its tasks in
 * order and starts each once its dependencies have finished. Runs the graphs of the devices of
 * this JVM (all of a {@link CpuMesh}, or one rank of a multi-process job).
 */
public final class GraphRunner {
    private GraphRunner() {}

    /**
     * Runs graphs (rank to graph) and waits; records every task in {@code trace} (nullable). On
     * the first failure, {@code abort} is told why (so that peers blocked on the wires wake up),
     * the other queues are interrupted and the failure is rethrown.
     */
    public static void run(Map<Integer, TaskGraph> graphs, Trace trace, Consumer<String> abort) {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (Map.Entry<Integer, TaskGraph> en : graphs.entrySet()) {
            int rank = en.getKey();
            TaskGraph g = en.getValue();
            CountDownLatch[] done = new CountDownLatch[g.size()];
            for (int i = 0; i < done.length; i++) done[i] = new CountDownLatch(1);
            for (TaskGraph.Queue q : TaskGraph.Queue.values()) {
                List<TaskGraph.Task> mine = g.tasks().stream().filter(t -> t.queue() == q).toList();
                if (mine.isEmpty()) continue;
                threads.add(Thread.ofPlatform().name("device-" + rank + "-" + q).start(() -> {
                    try {
                        for (TaskGraph.Task t : mine) {
                            if (t.body() == null)
                                throw new IllegalStateException("task '" + t.name() + "' has no body: this graph was built for simulation only");
                            for (int dep : t.deps()) done[dep].await();
                            long start = System.nanoTime();
                            t.body().run();
                            if (trace != null) trace.record(rank, t, start, System.nanoTime());
                            done[t.id()].countDown();
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } catch (Throwable e) {
                        if (failure.compareAndSet(null, new IllegalStateException("device " + rank + ": " + e.getMessage(), e)))
                            abort.accept("device " + rank + " failed: " + e.getMessage());
                    }
                }));
            }
        }
        for (Thread t : threads) {
            while (t.isAlive()) {
                try {
                    t.join(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    abort.accept("interrupted");
                    threads.forEach(Thread::interrupt);
                    throw new IllegalStateException("interrupted while running the mesh", e);
                }
                if (failure.get() != null) threads.forEach(Thread::interrupt);
            }
        }
        Throwable f = failure.get();
        if (f instanceof RuntimeException re) throw re;
        if (f != null) throw new IllegalStateException(f);
    }
}
