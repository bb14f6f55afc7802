package vit22b.mesh.sim;

import java.util.Locale;

/**
 * Hardware facts of one accelerator chip and its interconnect. Every number is a published
 * specification (source next to it); none is fitted to the paper's results.
 *
 * @param peakFlops     dense bf16 FLOP/s
 * @param hbmBytes      memory capacity
 * @param hbmBandwidth  bytes/s
 * @param linkBandwidth bytes/s of one link in one direction (TPU ICI link; GPU: NVLink per direction)
 * @param linkLatency   seconds per message hop
 * @param nodeSize      GPUs sharing one NVLink/NVSwitch domain (0: no nodes, a torus of chips)
 * @param netBandwidth  bytes/s per GPU per direction between nodes (InfiniBand)
 * @param netLatency    seconds per message between nodes
 */
public record Chip(String name, double peakFlops, double hbmBytes, double hbmBandwidth, double linkBandwidth,
                   double linkLatency, int nodeSize, double netBandwidth, double netLatency) {

    private static final double GIB = 1024.0 * 1024 * 1024;

    /**
     * TPU v4. 275 TFLOP/s bf16, 32 GiB HBM2 at 1200 GB/s: Cloud TPU "TPU v4" system architecture
     * page. 6 ICI links per chip (3D torus), 45 GB/s one way each: Jouppi et al., "TPU v4: an
     * optically reconfigurable supercomputer", ISCA 2023 (its Table: 6 links x 50 GB/s raw;
     * 45 GB/s is the payload rate the issue states). Latency per hop: 1 us, an order-of-magnitude
     * assumption (not a datasheet number; it only matters for small messages).
     */
    public static final Chip TPUV4 = new Chip("tpuv4", 275e12, 32 * GIB, 1.2e12, 45e9, 1e-6, 0, 0, 0);

    /**
     * H100 SXM5: 989 TFLOP/s bf16 dense, 80 GB HBM3 at 3.35 TB/s, NVLink 4 900 GB/s total =
     * 450 GB/s per direction (NVIDIA H100 Tensor Core GPU datasheet). 8 GPUs per NVSwitch node
     * and one 400 Gb/s ConnectX-7 per GPU = 50 GB/s per direction between nodes (NVIDIA DGX
     * H100 datasheet). Latencies: 1 us NVLink hop, 5 us between nodes: order-of-magnitude
     * assumptions, not datasheet numbers.
     */
    public static final Chip H100 = new Chip("h100", 989e12, 80e9, 3.35e12, 450e9, 1e-6, 8, 50e9, 5e-6);

    /** H200 SXM: same compute and NVLink as H100, 141 GB HBM3e at 4.8 TB/s (NVIDIA H200 datasheet); DGX H200 networking as DGX H100. */
    public static final Chip H200 = new Chip("h200", 989e12, 141e9, 4.8e12, 450e9, 1e-6, 8, 50e9, 5e-6);

    public static Chip named(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "tpuv4", "tpu-v4", "v4" -> TPUV4;
            case "h100" -> H100;
            case "h200" -> H200;
            default -> throw new IllegalArgumentException("unknown chip '" + name + "'; known: tpuv4, h100, h200");
        };
    }

    public boolean isTorus() { return nodeSize == 0; }
}
