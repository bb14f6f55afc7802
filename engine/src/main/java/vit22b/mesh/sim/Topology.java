package vit22b.mesh.sim;

import vit22b.graph.Axis;
import vit22b.graph.Mesh;

/**
 * How a t x k mesh lies on the machine, as a bandwidth and a latency per mesh axis.
 *
 * <p>TPU v4 (3D torus): a slice of N chips has the shape Cloud TPU documents (4x4x4 cubes,
 * the smallest dimension doubled first: 1024 chips = 8x8x16). The model axis takes whole torus
 * dimensions whose product is k when it can (else it is a ring inside one dimension); the data
 * axis takes the rest. A ring collective on an axis spanning d dimensions runs bidirectional
 * rings in each of them at once: 2 d links of 45 GB/s. An axis left with no dimension of its
 * own shares one (half of its two links).
 *
 * <p>GPUs: ranks are model-minor, so a model group of k <= nodeSize GPUs stays in one NVSwitch
 * node (450 GB/s per direction); a ring that crosses nodes is limited by each GPU's network
 * port (50 GB/s per direction).
 */
public record Topology(Chip chip, Mesh mesh, String shape, double dataBandwidth, double modelBandwidth,
                       double shiftBandwidth, double dataLatency, double modelLatency) {

    public static Topology of(Chip chip, Mesh mesh) {
        return chip.isTorus() ? torus(chip, mesh) : nodes(chip, mesh);
    }

    public double bandwidth(Axis a) { return a == Axis.DATA ? dataBandwidth : modelBandwidth; }

    /**
     * Bytes/s of a shift to the next device on the ring: one torus link (a ring neighbour is one
     * hop in one dimension); on GPUs, the axis bandwidth (NVSwitch reaches any peer at full rate).
     */
    public double shiftBandwidth(Axis a) { return chip.isTorus() ? shiftBandwidth : bandwidth(a); }

    public double latency(Axis a) { return a == Axis.DATA ? dataLatency : modelLatency; }

    private static Topology nodes(Chip c, Mesh m) {
        boolean modelInNode = m.model() <= c.nodeSize();
        boolean dataInNode = m.devices() <= c.nodeSize();
        return new Topology(c, m, Math.max(1, m.devices() / c.nodeSize()) + " node(s) of " + c.nodeSize(),
                dataInNode ? c.linkBandwidth() : c.netBandwidth(), modelInNode ? c.linkBandwidth() : c.netBandwidth(), 0,
                dataInNode ? c.linkLatency() : c.netLatency(), modelInNode ? c.linkLatency() : c.netLatency());
    }

    private static Topology torus(Chip c, Mesh m) {
        int[] dims = torusShape(m.devices());
        String shape = dims[0] + "x" + dims[1] + "x" + dims[2];
        // The fewest torus dimensions whose product covers k; exact cover: both axes own whole
        // dimensions. Otherwise one dimension is shared: each axis gets one of its two links.
        int bestMask = -1, bestProd = 0;
        for (int mask = 0; mask < 8; mask++) {
            int prod = 1;
            for (int i = 0; i < 3; i++) if ((mask & (1 << i)) != 0) prod *= dims[i];
            if (prod < m.model()) continue;
            boolean better = bestMask < 0 || (prod == m.model()) && bestProd != m.model()
                    || (prod == m.model()) == (bestProd == m.model()) && Integer.bitCount(mask) < Integer.bitCount(bestMask);
            if (better) { bestMask = mask; bestProd = prod; }
        }
        int modelDims = Integer.bitCount(bestMask);
        double modelLinks, dataLinks;
        if (m.model() == 1) { modelLinks = 0; dataLinks = 6; }
        else if (m.data() == 1) { modelLinks = 6; dataLinks = 0; }
        else if (bestProd == m.model()) { modelLinks = 2 * modelDims; dataLinks = 2 * (3 - modelDims); }
        else { modelLinks = 2 * modelDims - 1; dataLinks = 2 * (3 - modelDims) + 1; }
        double link = c.linkBandwidth();
        return new Topology(c, m, shape, dataLinks * link, modelLinks * link, link, c.linkLatency(), c.linkLatency());
    }

    /** Cloud TPU v4 slice shapes: 4x4x4 cubes, doubling the smallest dimension (below 64 chips: from 1x1x1). */
    static int[] torusShape(int chips) {
        if (Integer.bitCount(chips) != 1)
            throw new IllegalArgumentException(chips + " TPU v4 chips: slices come in powers of two; use e.g. "
                    + Integer.highestOneBit(chips));
        int[] d = {1, 1, 1};
        for (int n = 1; n < chips; n *= 2) {
            int i = 0;
            for (int j = 1; j < 3; j++) if (d[j] < d[i]) i = j;
            d[i] *= 2;
        }
        java.util.Arrays.sort(d);
        return d;
    }

    @Override public String toString() {
        return String.format("%s, data axis %.0f GB/s, model axis %.0f GB/s", shape, dataBandwidth / 1e9, modelBandwidth / 1e9);
    }
}
