package vit22b.mesh;

import java.util.ArrayList;
import java.util.List;

import vit22b.backend.Backend;
import vit22b.model.ParamLayout;
import vit22b.tensor.Tensor;
import vit22b.train.AdamW;

/**
 * AdamW (the semantics of {@link AdamW}) on one device's piece of a flat vector sharded over
 * the data axis: the device updates floats [start, start + n) of the flat, whose weight-decay
 * groups are given as runs. Floats past the flat's end (padding to a multiple of t) are left alone.
 */
final class ShardedAdamW {
    private ShardedAdamW() {}

    /** Consecutive floats of a flat vector sharing one decay group. */
    record Run(long offset, long size, ParamLayout.Decay decay) {}

    /** The runs of a layout, one per entry. */
    static List<Run> runs(ParamLayout l) {
        List<Run> r = new ArrayList<>();
        for (ParamLayout.Entry e : l.entries()) r.add(new Run(e.offset(), e.size(), e.decay()));
        return r;
    }

    /** One update of the piece starting at {@code start}; p, g, m, v are the piece's tensors (same size). */
    static void step(Backend be, List<Run> runs, long start, Tensor p, Tensor g, Tensor m, Tensor v,
                     AdamW.Config cfg, float lr, float gradScale, int step) {
        long end = start + p.size();
        for (Run r : runs) {
            long from = Math.max(start, r.offset()), to = Math.min(end, r.offset() + r.size());
            if (from >= to) continue;
            long o = from - start;
            int n = Math.toIntExact(to - from);
            be.adamw(p.view(o, n), g.view(o, n), m.view(o, n), v.view(o, n), lr, cfg.beta1(), cfg.beta2(), cfg.eps(),
                    cfg.decay(r.decay()), gradScale, step);
        }
    }
}
