package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

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
            float[] fs = new float[w], fb = new float[w];
            for (int r = from; r < to; r++) {
                rowBackward(g, (long) r * w, xs, (long) r * w, w, sc, st, 2L * r, centered, d, (long) r * w, true,
                        fs, dbias == null ? null : fb);
                if ((r - from + 1) % FLUSH == 0 || r == to - 1) {
                    flush(fs, ds[c]);
                    flush(fb, db[c]);
                }
            }
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
     * [mean, rstd] at stats[so]. Offsets in floats. Sums in float lanes: rows are short.
     */
    static void rowForward(MemorySegment x, long xo, int w, MemorySegment scale, MemorySegment bias,
                           boolean centered, float eps, MemorySegment out, long oo, MemorySegment stats, long so) {
        int vEnd = Vec.S.loopBound(w);
        float m = 0;
        if (centered) {
            FloatVector acc = FloatVector.zero(Vec.S);
            for (int j = 0; j < vEnd; j += Vec.L) acc = acc.add(Vec.load(x, xo + j));
            float sum = Vec.sum(acc);
            for (int j = vEnd; j < w; j++) sum += x.getAtIndex(F32, xo + j);
            m = sum / w;
        }
        FloatVector acc = FloatVector.zero(Vec.S);
        for (int j = 0; j < vEnd; j += Vec.L) {
            FloatVector e = Vec.load(x, xo + j).sub(m);
            acc = e.fma(e, acc);
        }
        float var = Vec.sum(acc);
        for (int j = vEnd; j < w; j++) {
            float e = x.getAtIndex(F32, xo + j) - m;
            var += e * e;
        }
        float rstd = (float) (1 / Math.sqrt((double) var / w + eps));
        for (int j = 0; j < vEnd; j += Vec.L) {
            FloatVector y = Vec.load(x, xo + j).sub(m).mul(rstd).mul(Vec.load(scale, j));
            if (bias != null) y = y.add(Vec.load(bias, j));
            Vec.store(y, out, oo + j);
        }
        for (int j = vEnd; j < w; j++) {
            float y = (x.getAtIndex(F32, xo + j) - m) * rstd * scale.getAtIndex(F32, j);
            if (bias != null) y += bias.getAtIndex(F32, j);
            out.setAtIndex(F32, oo + j, y);
        }
        stats.setAtIndex(F32, so, m);
        stats.setAtIndex(F32, so + 1, rstd);
    }

    /**
     * Backward of {@link #rowForward} for one row: dx (= or +=, by {@code accumulate}) from
     * dout; adds this row's contributions into the float partials dscale and dbias (nullable),
     * which the caller flushes into double every {@link #FLUSH} rows.
     * dx = rstd * (dxhat - [mean(dxhat)] - xhat * mean(dxhat * xhat)), dxhat = dout * scale,
     * the bracketed term only when centered.
     */
    static void rowBackward(MemorySegment dout, long go, MemorySegment x, long xo, int w, MemorySegment scale,
                            MemorySegment stats, long so, boolean centered, MemorySegment dx, long dxo,
                            boolean accumulate, float[] dscale, float[] dbias) {
        float mean = stats.getAtIndex(F32, so), rstd = stats.getAtIndex(F32, so + 1);
        int vEnd = Vec.S.loopBound(w);
        FloatVector aD = FloatVector.zero(Vec.S), aDX = FloatVector.zero(Vec.S);
        for (int j = 0; j < vEnd; j += Vec.L) {
            FloatVector g = Vec.load(dout, go + j);
            FloatVector xhat = Vec.load(x, xo + j).sub(mean).mul(rstd);
            FloatVector dxhat = g.mul(Vec.load(scale, j));
            aD = aD.add(dxhat);
            aDX = dxhat.fma(xhat, aDX);
            g.fma(xhat, FloatVector.fromArray(Vec.S, dscale, j)).intoArray(dscale, j);
            if (dbias != null) g.add(FloatVector.fromArray(Vec.S, dbias, j)).intoArray(dbias, j);
        }
        float sumD = Vec.sum(aD), sumDX = Vec.sum(aDX);
        for (int j = vEnd; j < w; j++) {
            float g = dout.getAtIndex(F32, go + j);
            float xhat = (x.getAtIndex(F32, xo + j) - mean) * rstd;
            float dxhat = g * scale.getAtIndex(F32, j);
            sumD += dxhat;
            sumDX += dxhat * xhat;
            dscale[j] += g * xhat;
            if (dbias != null) dbias[j] += g;
        }
        float mD = centered ? sumD / w : 0f, mDX = sumDX / w;
        for (int j = 0; j < vEnd; j += Vec.L) {
            FloatVector xhat = Vec.load(x, xo + j).sub(mean).mul(rstd);
            FloatVector v = Vec.load(dout, go + j).mul(Vec.load(scale, j)).sub(mD).sub(xhat.mul(mDX)).mul(rstd);
            if (accumulate) v = v.add(Vec.load(dx, dxo + j));
            Vec.store(v, dx, dxo + j);
        }
        for (int j = vEnd; j < w; j++) {
            float xhat = (x.getAtIndex(F32, xo + j) - mean) * rstd;
            float v = rstd * (dout.getAtIndex(F32, go + j) * scale.getAtIndex(F32, j) - mD - xhat * mDX);
            if (accumulate) v += dx.getAtIndex(F32, dxo + j);
            dx.setAtIndex(F32, dxo + j, v);
        }
    }

    /** Rows summed in float before a flush into the double partials (bounds the float error). */
    static final int FLUSH = 64;

    /** acc[j] += part[j] in double; part is cleared. */
    static void flush(float[] part, double[] acc) {
        for (int j = 0; j < acc.length; j++) {
            acc[j] += part[j];
            part[j] = 0;
        }
    }
}
