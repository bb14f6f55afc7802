package vit22b.model;

/**
 * Per-block attention statistics of one forward pass (the paper's Figure 1): the largest
 * |attention logit| and the mean entropy (nats) of the attention distributions.
 */
public record AttentionStats(double[] maxAbsLogit, double[] meanEntropy) {

    /** One block's figures. */
    record Layer(double maxAbsLogit, double meanEntropy) {}

    /** From head-major q and k ({@code groups} = B*H, each (n, hd)), logits scaled by 1/sqrt(hd). */
    static Layer of(float[] q, float[] k, int groups, int n, int hd) {
        double scale = 1 / Math.sqrt(hd), max = 0, entropySum = 0;
        double[] logits = new double[n];
        for (int g = 0; g < groups; g++) {
            int base = g * n * hd;
            for (int i = 0; i < n; i++) {
                double rowMax = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    double dot = 0;
                    for (int e = 0; e < hd; e++) dot += (double) q[base + i * hd + e] * k[base + j * hd + e];
                    logits[j] = dot * scale;
                    max = Math.max(max, Math.abs(logits[j]));
                    rowMax = Math.max(rowMax, logits[j]);
                }
                // entropy = log Z - sum p l, with l shifted by the row max for stability
                double z = 0, pl = 0;
                for (int j = 0; j < n; j++) {
                    double e = Math.exp(logits[j] - rowMax);
                    z += e;
                    pl += e * (logits[j] - rowMax);
                }
                entropySum += Math.log(z) - pl / z;
            }
        }
        return new Layer(max, entropySum / ((double) groups * n));
    }
}
