package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class ModelStatsTest {

    private static ModelStats stats(String preset) { return ModelStats.of(Presets.get(preset)); }

    private static double paperDiff(String preset) {
        return PaperTable1.row(preset).orElseThrow().relativeDifference(stats(preset).params());
    }

    @Test void vitERoundsToTable1sCount() {
        ModelStats s = stats("vit-e");
        assertEquals(3926, Math.round(s.params().total() / 1e6), "ViT-e with MAP head and JFT classifier");
    }

    @Test void vit22bIsWithinHalfAPercentOfTable1() {
        double rel = paperDiff("vit-22b");
        assertTrue(Math.abs(rel) < 0.005, "ViT-22B differs from 22,165M by " + rel);
        assertEquals(0, stats("vit-22b").params().classifier());
    }

    @Test void vitGBackboneIsWithinATenthOfAPercentOfTable1() {
        double rel = paperDiff("vit-g");
        assertTrue(Math.abs(rel) < 0.001, "ViT-G differs from 1843M by " + rel);
        assertEquals(1_842_221_568L, stats("vit-g").params().backbone());
    }

    /** Backbone count written out per tensor, as timm's ParallelScalingBlock holds them. */
    @Test void partsAddUpAndBackboneMatchesAClosedForm() {
        ModelConfig c = Presets.get("test-small").withClasses(11);
        ModelStats.Params p = ModelStats.of(c).params();
        long d = c.width(), m = c.mlp();
        long block = d + (m + 3 * d) * d + m + 2L * c.headDim() + d * (d + m) + d;
        long backbone = d * c.channels() * c.patch() * c.patch() + d + (long) c.tokens() * d + c.depth() * block + d;
        long head = d + (d * d + d) + (2 * d * d + 2 * d) + (d * d + d) + 2 * d + (m * d + m) + (d * m + d);
        assertEquals(backbone, p.backbone());
        assertEquals(head, p.mapHead());
        assertEquals(11 * d + 11, p.classifier());
        assertEquals(new ParamLayout(c).total(), p.total());
    }

    /** The backbone of every block variant against its count written out tensor by tensor. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"paper", "no-qk-norm", "sequential", "biases",
            "sequential+no-qk-norm", "sequential+biases", "no-qk-norm+biases", "sequential+no-qk-norm+biases"})
    void variantBackboneMatchesAClosedForm(String name) {
        Variant v = ModelFixtures.variant(name);
        ModelConfig c = Presets.get("test-small").withClasses(11).withVariant(v);
        long d = c.width(), m = c.mlp(), hd = c.headDim();
        long norms = v.biases() ? 2 : 1;                 // a norm holds a scale, and a bias with --biases
        long qk = v.qkNorm() ? 2 * norms * hd : 0;       // q_norm and k_norm over head_dim
        long block = v.parallel()
                ? norms * d + (m + 3 * d) * d + (v.biases() ? m + 3 * d : m) + qk + d * (d + m) + d
                : norms * d + 3 * d * d + (v.biases() ? 3 * d : 0) + qk + d * d + d   // norm1, attn.qkv, q/k norm, attn.proj
                  + norms * d + m * d + m + d * m + d;                                 // norm2, mlp.fc1, mlp.fc2
        long backbone = d * c.channels() * c.patch() * c.patch() + d + (long) c.tokens() * d + c.depth() * block + norms * d;
        ModelStats.Params p = ModelStats.of(c).params();
        assertEquals(backbone, p.backbone(), name);
        assertEquals(ModelStats.of(c.withVariant(Variant.PAPER)).params().mapHead(), p.mapHead(), name);
        assertEquals(new ParamLayout(c).total(), p.total(), name);
    }

    /** One GEMM the model performs: (m x k) @ (k x n). */
    record Gemm(String what, long m, long n, long k) {}

    /** Every GEMM of a forward pass over a batch, attention enumerated per (image, head). */
    private static List<Gemm> forwardGemms(ModelConfig c, int batch) {
        int n = c.tokens(), d = c.width(), hd = c.headDim();
        List<Gemm> g = new ArrayList<>();
        g.add(new Gemm("patch conv", (long) batch * n, d, (long) c.channels() * c.patch() * c.patch()));
        for (int l = 0; l < c.depth(); l++) {
            g.add(new Gemm("in-proj", (long) batch * n, c.mlp() + 3L * d, d));
            for (int b = 0; b < batch; b++)
                for (int h = 0; h < c.heads(); h++) {
                    g.add(new Gemm("q k^T", n, n, hd));
                    g.add(new Gemm("p v", n, hd, n));
                }
            g.add(new Gemm("out-proj", (long) batch * n, d, d + (long) c.mlp()));
        }
        g.add(new Gemm("map q", batch, d, d));
        g.add(new Gemm("map kv", (long) batch * n, 2L * d, d));
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < c.heads(); h++) {
                g.add(new Gemm("map q k^T", 1, n, hd));
                g.add(new Gemm("map p v", 1, hd, n));
            }
        g.add(new Gemm("map proj", batch, d, d));
        g.add(new Gemm("map fc1", batch, c.mlp(), d));
        g.add(new Gemm("map fc2", batch, d, c.mlp()));
        if (c.classes() > 0) g.add(new Gemm("classifier", batch, c.classes(), d));
        return g;
    }

    @Test void forwardFlopsEqualTwiceEveryGemmsMacs() {
        int batch = 3;
        for (String name : List.of("test-small", "vit-s-fmnist", "vit-e", "vit-22b")) {
            ModelConfig c = Presets.get(name);
            long macs = 0;
            for (Gemm g : forwardGemms(c, batch)) macs += g.m() * g.n() * g.k();
            ModelStats s = ModelStats.of(c);
            assertEquals(2 * macs, batch * s.flops().forwardPerImage(), name);
            assertEquals(3 * s.flops().forwardPerImage(), s.flops().trainingPerImage(), name);
        }
    }

    @Test void memoryIsBytesPerParameterTimesCount() {
        ModelStats s = stats("vit-s-fmnist");
        long n = s.params().total();
        assertEquals(16 * n, s.fp32().total());
        assertEquals(18 * n, s.mixed().total());
        assertEquals(2 * n, s.mixed().weights());
    }
}
