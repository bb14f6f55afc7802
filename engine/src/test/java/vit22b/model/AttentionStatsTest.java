package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Figure 1's statistics on cases with known answers. */
class AttentionStatsTest {

    @Test void uniformAttentionHasEntropyLogN() {
        int n = 5, hd = 4;
        float[] q = new float[n * hd], k = new float[n * hd];
        for (int i = 0; i < k.length; i++) k[i] = (i % 3) - 1;   // q = 0: all logits 0
        AttentionStats.Layer s = AttentionStats.of(q, k, 1, n, hd);
        assertEquals(0, s.maxAbsLogit(), 0);
        assertEquals(Math.log(n), s.meanEntropy(), 1e-12);
    }

    @Test void twoKeysGiveTheBinaryEntropyOfTheirSoftmax() {
        // one query, two keys; logits (q.k)/sqrt(hd) = 3 and -1 with hd = 4
        int hd = 4;
        float[] q = {2, 0, 0, 0, 0, 0, 0, 0};
        float[] k = {3, 0, 0, 0, -1, 0, 0, 0};
        // groups = 1, n = 2: query rows are q[0..4) and q[4..8); the second query is zero
        AttentionStats.Layer s = AttentionStats.of(q, k, 1, 2, hd);
        double p = 1 / (1 + Math.exp(-4));
        double h1 = -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
        assertEquals(3, s.maxAbsLogit(), 1e-12);
        assertEquals((h1 + Math.log(2)) / 2, s.meanEntropy(), 1e-12);
    }
}
