package vit22b.mesh;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;

/**
 * The CPU executor: a mesh of CPU-thread devices, each with its own memory. {@link #run} runs
 * every rank's task graph for real, with one thread per (device, queue): a queue takes its
 * tasks in order and starts each once its dependencies have finished.
 */
public final class CpuMesh {
    private final Mesh mesh;
    private final List<CpuDevice> devices = new ArrayList<>();

    public CpuMesh(Mesh mesh) {
        this.mesh = mesh;
        Fabric f = new Fabric(mesh.devices());
        for (int r = 0; r < mesh.devices(); r++) devices.add(new CpuDevice(mesh, r, f));
    }

    public Mesh mesh() { return mesh; }

    public CpuDevice device(int rank) { return devices.get(rank); }

    /** Runs graph(rank) on every device and waits; the first failure of any task is rethrown. */
    public void run(IntFunction<TaskGraph> graphOf) {
        List<TaskGraph> graphs = new ArrayList<>();
        for (int r = 0; r < mesh.devices(); r++) graphs.add(graphOf.apply(r));
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < graphs.size(); r++) {
            TaskGraph g = graphs.get(r);
            CountDownLatch[] done = new CountDownLatch[g.size()];
            for (int i = 0; i < done.length; i++) done[i] = new CountDownLatch(1);
            for (TaskGraph.Queue q : TaskGraph.Queue.values()) {
                List<TaskGraph.Task> mine = g.tasks().stream().filter(t -> t.queue() == q).toList();
                if (mine.isEmpty()) continue;
                int rank = r;
                threads.add(Thread.ofPlatform().name("device-" + r + "-" + q).start(() -> {
                    try {
                        for (TaskGraph.Task t : mine) {
                            if (t.body() == null)
                                throw new IllegalStateException("task '" + t.name() + "' has no body: this graph was built for simulation only");
                            for (int dep : t.deps()) done[dep].await();
                            t.body().run();
                            done[t.id()].countDown();
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } catch (Throwable e) {
                        failure.compareAndSet(null, new IllegalStateException("device " + rank + ": " + e.getMessage(), e));
                    }
                }));
            }
        }
        // A failed device leaves its peers blocked on the fabric: interrupt them all.
        for (Thread t : threads) {
            while (t.isAlive()) {
                try {
                    t.join(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
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
