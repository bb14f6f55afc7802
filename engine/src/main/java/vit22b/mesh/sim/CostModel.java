package vit22b.mesh.sim;

import vit22b.graph.Cost;
import vit22b.graph.Mesh;

/**
 * Seconds for a task from hardware facts only. Compute: roofline, max(FLOPs / peak, bytes / HBM
 * bandwidth). Collectives: ring algorithms, p - 1 steps each moving 1/p of the buffer, plus one
 * link latency per step; an all-reduce is a reduce-scatter then an all-gather.
 */
public record CostModel(Chip chip, Mesh mesh, Topology topology) {

    public static CostModel of(Chip chip, Mesh mesh) { return new CostModel(chip, mesh, Topology.of(chip, mesh)); }

    public double seconds(Cost c) {
        return switch (c) {
            case Cost.Compute x -> Math.max(x.flops() / chip.peakFlops(), x.bytes() / chip.hbmBandwidth());
            case Cost.Collective x -> collective(x);
        };
    }

    private double collective(Cost.Collective x) {
        int p = mesh.size(x.axis());
        if (p == 1) return 0;
        double lat = topology.latency(x.axis());
        double ring = (p - 1.0) / p * x.bytes() / topology.bandwidth(x.axis()) + (p - 1) * lat;
        return switch (x.kind()) {
            case ALL_GATHER, REDUCE_SCATTER -> ring;
            case ALL_REDUCE -> 2 * ring;
            case SHIFT -> x.bytes() / topology.shiftBandwidth(x.axis()) + lat;
            // Both directions use separate links, so an exchange costs what one shift costs.
            case EXCHANGE -> x.bytes() / topology.shiftBandwidth(x.axis()) + lat;
        };
    }
}
