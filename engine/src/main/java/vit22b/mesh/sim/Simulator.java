package vit22b.mesh.sim;

import vit22b.graph.TaskGraph;

/**
 * Runs a task graph in simulated time: a queue starts its next task when the previous one on
 * the same queue and all dependencies have ended; a task lasts what the cost model says. Every
 * device of an SPMD step runs the same graph on a symmetric mesh, so one device's timeline is
 * the step's (collectives are charged in full by their cost).
 */
public final class Simulator {
    private Simulator() {}

    /** Step time, time the compute queue was busy, time spent in communication tasks. */
    public record Timeline(double step, double compute, double comm) {
        /** Step time not covered by compute: communication (or dependency waits) left exposed. */
        public double exposed() { return step - compute; }
    }

    public static Timeline run(TaskGraph g, CostModel m) {
        double[] end = new double[g.size()];
        double[] queueFree = new double[TaskGraph.Queue.values().length];
        double compute = 0, comm = 0, step = 0;
        for (TaskGraph.Task t : g.tasks()) {
            double start = queueFree[t.queue().ordinal()];
            for (int d : t.deps()) start = Math.max(start, end[d]);
            double dur = m.seconds(t.cost());
            end[t.id()] = start + dur;
            queueFree[t.queue().ordinal()] = end[t.id()];
            if (t.cost() instanceof vit22b.graph.Cost.Compute) compute += dur; else comm += dur;
            step = Math.max(step, end[t.id()]);
        }
        return new Timeline(step, compute, comm);
    }
}
