package vit22b.mesh.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import vit22b.backend.Backends;
import vit22b.backend.cuda.CudaBackend;
import vit22b.graph.TaskGraph;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceStream;
import vit22b.mesh.Trace;

/**
 * The CUDA executor of task graphs: per rank, COMPUTE tasks are queued on the rank's compute
 * stream (its backend's own stream) and COMM tasks on its communication stream; a dependency
 * across the two queues becomes an event recorded after the producer on its stream and a wait
 * on that event by the consumer's stream (within a queue, the stream's order is the graph's).
 * One host thread per rank runs the task bodies in graph order, with the rank's backend
 * pointed at the task's stream ({@link CudaBackend#onStream}), so a body only queues work,
 * except where it reads a value back (a loss, a norm), which waits for that stream alone.
 *
 * <p>With a trace, every task is bracketed by two events; after the run the times between them
 * and a common start event become the trace (so a GPU run shows copies overlapping kernels).
 * They are device times on a GPU; on the emulated device they are when the emulator got round
 * to running the work (lazily, on the CPU), which says nothing about a GPU.
 */
final class StreamExecutor {
    private StreamExecutor() {}

    /** One rank: its backend (compute stream), communication stream and communicator. */
    record Rank(int rank, CudaBackend backend, DeviceStream commStream, DeviceCommunicator comm) {}

    /**
     * Issues every rank's graph and waits until the device has run all of it; records every
     * task in {@code trace} (nullable). On the first failure, {@code abort} is told why (so that
     * peers waiting for this rank's transfers wake up) and the failure is rethrown.
     */
    static void run(Map<Rank, TaskGraph> graphs, Trace trace, Consumer<String> abort) {
        if (graphs.isEmpty()) return;
        Rank first = graphs.keySet().iterator().next();
        DeviceEvent base = first.backend().device().createEvent();
        try {
            base.record(first.backend().stream());
            if (trace != null) trace.note("times", Backends.emulated(first.backend().name())
                    ? "emulated device: when the emulator ran each task's work on the CPU (lazily, at a wait), not GPU timings"
                    : "CUDA events on " + first.backend().device().description());
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (Map.Entry<Rank, TaskGraph> en : graphs.entrySet()) {
                Rank r = en.getKey();
                threads.add(Thread.ofPlatform().name("rank-" + r.rank() + "-issue").start(() -> {
                    try {
                        issue(r, en.getValue(), base, trace);
                    } catch (Throwable e) {
                        if (failure.compareAndSet(null, new IllegalStateException("device " + r.rank() + ": " + e.getMessage(), e)))
                            abort.accept("device " + r.rank() + " failed: " + e.getMessage());
                    }
                }));
            }
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    abort.accept("interrupted");
                    throw new IllegalStateException("interrupted while running the mesh", e);
                }
            }
            Throwable f = failure.get();
            if (f instanceof RuntimeException re) throw re;
            if (f != null) throw new IllegalStateException(f);
        } finally {
            // Only now: a peer may still have been issuing a wait on one of this rank's events.
            for (Rank r : graphs.keySet()) r.comm().release();
            base.close();
        }
    }

    private static void issue(Rank r, TaskGraph g, DeviceEvent base, Trace trace) {
        CudaBackend be = r.backend();
        be.makeCurrent();   // a GPU's context is per host thread; kernel launches assume it
        DeviceStream compute = be.stream(), comm = r.commStream();
        List<TaskGraph.Task> tasks = g.tasks();
        int n = tasks.size();
        // A task needs an end event when a task of the other queue depends on it (or to be timed).
        boolean[] ends = new boolean[n];
        for (TaskGraph.Task t : tasks)
            for (int d : t.deps()) if (tasks.get(d).queue() != t.queue()) ends[d] = true;
        DeviceEvent[] start = new DeviceEvent[n], end = new DeviceEvent[n];
        List<DeviceEvent> made = new ArrayList<>();
        try {
            // Both queues start after the common start and after what was queued on the backend before the run (uploads).
            compute.waitFor(base);
            comm.waitFor(record(be, compute, made));
            for (TaskGraph.Task t : tasks) {
                if (t.body() == null)
                    throw new IllegalStateException("task '" + t.name() + "' has no body: this graph was built for simulation only");
                DeviceStream s = t.queue() == TaskGraph.Queue.COMPUTE ? compute : comm;
                int cross = -1;   // the last dependency on the other queue: its end implies the earlier ones'
                for (int d : t.deps()) if (tasks.get(d).queue() != t.queue()) cross = Math.max(cross, d);
                if (cross >= 0) s.waitFor(end[cross]);
                if (trace != null) start[t.id()] = record(be, s, made);
                try (CudaBackend.StreamScope ignored = be.onStream(s)) {
                    t.body().run();
                }
                if (trace != null || ends[t.id()]) end[t.id()] = record(be, s, made);
            }
            r.comm().settle();
            compute.synchronize();
            comm.synchronize();
            if (trace != null)
                for (TaskGraph.Task t : tasks)
                    trace.record(r.rank(), t, nanos(start[t.id()], base), nanos(end[t.id()], base));
        } finally {
            for (DeviceEvent e : made) e.close();
        }
    }

    private static DeviceEvent record(CudaBackend be, DeviceStream s, List<DeviceEvent> made) {
        DeviceEvent e = be.device().createEvent();
        made.add(e);
        e.record(s);
        return e;
    }

    private static long nanos(DeviceEvent e, DeviceEvent base) { return Math.round(e.millisSince(base) * 1e6); }
}
