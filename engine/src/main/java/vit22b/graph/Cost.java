package vit22b.graph;

/**
 * What a task costs, in hardware-independent units; the simulator's cost model turns it into
 * seconds (roofline for compute, ring algorithms on links for communication).
 */
public sealed interface Cost {

    /** A kernel doing {@code flops} floating-point operations and moving {@code bytes} to/from HBM. */
    record Compute(double flops, double bytes) implements Cost {}

    /**
     * A collective along {@code axis}. {@code bytes} is the size of the full buffer on one
     * device: the output of an all-gather, the input of a reduce-scatter, the buffer of an
     * all-reduce, the message of a shift (per direction for an exchange).
     */
    record Collective(Kind kind, Axis axis, double bytes) implements Cost {}

    enum Kind { ALL_GATHER, REDUCE_SCATTER, ALL_REDUCE, SHIFT, EXCHANGE }

    static Cost compute(double flops, double bytes) { return new Compute(flops, bytes); }

    /** A matmul (m x k) @ (k x n) with {@code bytesPer}-byte operands: 2mkn FLOPs, reads both, writes the result. */
    static Cost matmul(double m, double k, double n, int bytesPer) {
        return new Compute(2 * m * k * n, bytesPer * (m * k + k * n + m * n));
    }

    /** An elementwise kernel over {@code elements} that reads {@code reads} and writes {@code writes} arrays of them. */
    static Cost elementwise(double elements, int reads, int writes, int bytesPer, double flopsPerElement) {
        return new Compute(flopsPerElement * elements, (double) bytesPer * elements * (reads + writes));
    }

    static Cost collective(Kind kind, Axis axis, double bytes) { return new Collective(kind, axis, bytes); }
}
