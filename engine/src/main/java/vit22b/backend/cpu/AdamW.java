package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

import vit22b.tensor.Tensor;

/** AdamW with decoupled weight decay (PyTorch's semantics), in vector lanes, parallel over the range. */
final class AdamW {
    private AdamW() {}

    static void update(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                       float eps, float weightDecay, float gradScale, int step) {
        Args.size(grad, param.size(), "adamw: grad");
        Args.size(m, param.size(), "adamw: m");
        Args.size(v, param.size(), "adamw: v");
        Args.require(step >= 1, "adamw: step must be >= 1 (bias correction), got " + step);
        MemorySegment p = seg(param), g = seg(grad), ms = seg(m), vs = seg(v);
        // StrictMath: the same bits in every JIT tier (bit-exact resume)
        float c1 = (float) (1 / (1 - StrictMath.pow(beta1, step)));
        float c2 = (float) (1 / (1 - StrictMath.pow(beta2, step)));
        Parallel.range(Math.toIntExact(param.size()), 12, (ch, from, to) -> {
            int i = from;
            for (int end = from + Vec.S.loopBound(to - from); i < end; i += Vec.L) {
                FloatVector gi = Vec.load(g, i).mul(gradScale);
                FloatVector mi = Vec.load(ms, i).mul(beta1).add(gi.mul(1 - beta1));
                FloatVector vi = Vec.load(vs, i).mul(beta2).add(gi.mul(gi).mul(1 - beta2));
                FloatVector pi = Vec.load(p, i);
                Vec.store(mi, ms, i);
                Vec.store(vi, vs, i);
                FloatVector update = mi.mul(c1).div(vi.mul(c2).sqrt().add(eps)).add(pi.mul(weightDecay));
                Vec.store(pi.sub(update.mul(lr)), p, i);
            }
            for (; i < to; i++) {
                float gi = g.getAtIndex(F32, i) * gradScale;
                float mi = beta1 * ms.getAtIndex(F32, i) + (1 - beta1) * gi;
                float vi = beta2 * vs.getAtIndex(F32, i) + (1 - beta2) * gi * gi;
                float pi = p.getAtIndex(F32, i);
                ms.setAtIndex(F32, i, mi);
                vs.setAtIndex(F32, i, vi);
                p.setAtIndex(F32, i, pi - lr * (mi * c1 / ((float) Math.sqrt(vi * c2) + eps) + weightDecay * pi));
            }
        });
    }
}
