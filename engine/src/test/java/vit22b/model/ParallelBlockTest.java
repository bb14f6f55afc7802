package vit22b.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * The fused parallel block equals a sequential re-computation with the backend's unfused ops:
 * the norm once, then attention with its own q, k, v and output matrices and the MLP with its
 * own input and output matrices (all sliced from the fused ones), outputs summed.
 */
class ParallelBlockTest {

    @ParameterizedTest
    @EnumSource(NormKind.class)
    void fusedBlockEqualsAttentionPlusMlp(NormKind norm) {
        ModelConfig c = Presets.get("test-small").withNorm(norm).withGelu(GeluKind.EXACT);
        int batch = 3, t = batch * c.tokens(), d = c.width(), m = c.mlp(), h = c.heads(), hd = c.headDim();
        boolean centered = norm == NormKind.LAYER;
        try (CpuBackend be = new CpuBackend(); ViT vit = new ViT(be, c); Buffers buf = new Buffers(be)) {
            be.upload(vit.params(), ModelFixtures.randomParams(vit.layout(), 31));
            Tensor images = buf.get(batch, c.channels(), c.imageSize(), c.imageSize());
            be.upload(images, ModelFixtures.images(c, batch, 32));
            Activations a = vit.run(images, true);
            BlockParams w = BlockParams.of(vit.layout(), vit.params(), 1);
            Tensor x = a.x(1);

            Tensor y = buf.get(t, d), stats = buf.get(t, 2);
            be.normForward(y, stats, x, w.inNorm(), null, centered, ModelConfig.EPS);
            // MLP: rows [0, M) of W_in, columns [D, D+M) of W_out
            Tensor hid = buf.get(t, m), g = buf.get(t, m), mlpOut = buf.get(t, d);
            be.linearForward(hid, y, w.wIn().view(0, m, d), w.bMlp());
            be.geluForward(g, hid, c.gelu());
            be.linearForward(mlpOut, g, columns(be, buf, w.wOut(), d, m), null);
            // attention: rows M.., M+D.., M+2D.. of W_in, QK-norm per head, columns [0, D) of W_out
            Tensor[] heads = new Tensor[3];
            for (int part = 0; part < 3; part++) {
                Tensor lin = buf.get(t, d);
                be.linearForward(lin, y, w.wIn().view((long) (m + part * d) * d, d, d), null);
                if (part < 2) {
                    Tensor normed = buf.get(t * h, hd);
                    be.normForward(normed, buf.get(t * h, 2), lin.reshape(t * h, hd),
                            part == 0 ? w.qScale() : w.kScale(), null, centered, ModelConfig.EPS);
                    lin = normed.reshape(t, d);
                }
                heads[part] = buf.get(batch, h, c.tokens(), hd);
                be.toHeads(heads[part], lin, 0, batch, h);
            }
            Tensor att = buf.get(t, d), attOut = buf.get(t, d);
            be.attentionForward(att, buf.get(batch, h, c.tokens()), heads[0], heads[1], heads[2]);
            be.linearForward(attOut, att, columns(be, buf, w.wOut(), 0, d), w.bOut());

            float[] xs = be.download(x), ma = be.download(mlpOut), at = be.download(attOut);
            double[] expected = new double[xs.length];
            for (int i = 0; i < xs.length; i++) expected[i] = (double) xs[i] + ma[i] + at[i];
            Check.assertClose("block output", be.download(a.x(2)), expected, 1e-5);
        }
    }

    /** Columns [col, col + width) of a (rows, cols) matrix as a new (rows, width) tensor. */
    private static Tensor columns(Backend be, Buffers buf, Tensor w, int col, int width) {
        int rows = w.dim(0), cols = w.dim(1);
        float[] all = be.download(w), part = new float[rows * width];
        for (int r = 0; r < rows; r++) System.arraycopy(all, r * cols + col, part, r * width, width);
        Tensor out = buf.get(rows, width);
        be.upload(out, part);
        return out;
    }
}
