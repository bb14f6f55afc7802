package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import vit22b.tensor.Tensor;

/**
 * Row-wise normalisation with a scale and optional bias: centered (LayerNorm) or RMS. Both
 * share one formula, xhat = (x - mean) * rstd, with mean = 0 for RMS; stats keep [mean, rstd].
 */
final class Norms {
    private Norms() {}

    static void forward(Tensor out, Tensor stats, Tensor x, Tensor scale, Tensor bias, boolean centered, float eps) {
        int w = Math.toIntExact(scale.size());
        int rows = Args.div(x.size(), w, "norm: x size vs scale width");
        Args.size(out, x.size(), "norm: out");
        Args.size(stats, 2L * rows, "norm: stats");
        if (bias != null) Args.size(bias, w, "norm: bias");
        MemorySegment o = seg(out), st = seg(stats), xs = seg(x), sc = seg(scale), bs = bias == null ? null : seg(bias);
        Parallel.range(rows, 8L * w, (c, from, to) -> {
            for (int r = from; r < to; r++)
                rowForward(xs, (long) r * w, w, sc, bs, centered, eps, o, (long) r * w, st, 2L * r);
        });
    }

    static void backward(Tensor dx, Tensor dscale, Tensor dbias, Tensor dout, Tensor x, Tensor scale,
                         Tensor stats, boolean centered) {
        int w = Math.toIntExact(scale.size());
        int rows = Args.div(x.size(), w, "norm backward: x size vs scale width");
        Args.size(dx, x.size(), "norm backward: dx");
        Args.size(dout, x.size(), "norm backward: dout");
        Args.size(dscale, w, "norm backward: dscale");
        Args.size(stats, 2L * rows, "norm backward: stats");
        if (dbias != null) Args.size(dbias, w, "norm backward: dbias");
        MemorySegment d = seg(dx), g = seg(dout), xs = seg(x), sc = seg(scale), st = seg(stats);
        int chunks = Parallel.chunks(rows, 12L * w);
        double[][] ds = new double[chunks][w], db = new double[chunks][w];
        Parallel.run(rows, chunks, (c, from, to) -> {
            for (int r = from; r < to; r++)
                rowBackward(g, (long) r * w, xs, (long) r * w, w, sc, st, 2L * r, centered, d, (long) r * w, true,
                        ds[c], db[c]);
        });
        addPartials(seg(dscale), ds);
        if (dbias != null) addPartials(seg(dbias), db);
    }

    /** dst += the sum of per-chunk partials, in chunk order. */
    static void addPartials(MemorySegment dst, double[][] parts) {
        for (int j = 0; j < parts[0].length; j++) {
            double s = 0;
            for (double[] p : parts) s += p[j];
            dst.setAtIndex(F32, j, (float) (dst.getAtIndex(F32, j) + s));
        }
    }

    /**
     * Normalises one row of w floats at x[xo]: out[oo..] = xhat * scale (+ bias); writes
     * [mean, rstd] at stats[so]. Offsets in floats.
     */
    static void rowForward(MemorySegment x, long xo, int w, MemorySegment scale, MemorySegment bias,
                           boolean centered, float eps, MemorySegment out, long oo, MemorySegment stats, long so) {
        double mean = 0;
        if (centered) {
            for (int j = 0; j < w; j++) mean += x.getAtIndex(F32, xo + j);
            mean /= w;
        }
        double var = 0;
        for (int j = 0; j < w; j++) {
            double e = x.getAtIndex(F32, xo + j) - mean;
            var += e * e;
        }
        float m = (float) mean, rstd = (float) (1 / Math.sqrt(var / w + eps));
        for (int j = 0; j < w; j++) {
            float y = (x.getAtIndex(F32, xo + j) - m) * rstd * scale.getAtIndex(F32, j);
            if (bias != null) y += bias.getAtIndex(F32, j);
            out.setAtIndex(F32, oo + j, y);
        }
        stats.setAtIndex(F32, so, m);
        stats.setAtIndex(F32, so + 1, rstd);
    }

    /**
     * Backward of {@link #rowForward} for one row: dx (= or +=, by {@code accumulate}) from
     * dout; adds this row's contributions into dscale and dbias (nullable) partials.
     * dx = rstd * (dxhat - [mean(dxhat)] - xhat * mean(dxhat * xhat)), dxhat = dout * scale,
     * the bracketed term only when centered.
     */
    static void rowBackward(MemorySegment dout, long go, MemorySegment x, long xo, int w, MemorySegment scale,
                            MemorySegment stats, long so, boolean centered, MemorySegment dx, long dxo,
                            boolean accumulate, double[] dscale, double[] dbias) {
        float mean = stats.getAtIndex(F32, so), rstd = stats.getAtIndex(F32, so + 1);
        double sumD = 0, sumDX = 0;
        for (int j = 0; j < w; j++) {
            float g = dout.getAtIndex(F32, go + j);
            float xhat = (x.getAtIndex(F32, xo + j) - mean) * rstd;
            float dxhat = g * scale.getAtIndex(F32, j);
            sumD += dxhat;
            sumDX += dxhat * xhat;
            dscale[j] += g * xhat;
            if (dbias != null) dbias[j] += g;
        }
        float mD = centered ? (float) (sumD / w) : 0f, mDX = (float) (sumDX / w);
        for (int j = 0; j < w; j++) {
            float xhat = (x.getAtIndex(F32, xo + j) - mean) * rstd;
            float v = rstd * (dout.getAtIndex(F32, go + j) * scale.getAtIndex(F32, j) - mD - xhat * mDX);
            if (accumulate) v += dx.getAtIndex(F32, dxo + j);
            dx.setAtIndex(F32, dxo + j, v);
        }
    }
}
