package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;

import vit22b.model.LossKind;
import vit22b.tensor.Tensor;

/**
 * Losses with their gradient in one pass, in double, stable for any logit size. StrictMath, not
 * Math: its results are fixed by specification, whatever the JIT tier (bit-exact resume).
 */
final class Loss {
    private Loss() {}

    /** Mean over the batch; writes dlogits = d(mean loss)/d(logits). */
    static double forwardBackward(Tensor logits, Tensor targets, Tensor dlogits, LossKind kind) {
        Args.require(logits.rank() == 2, "loss: logits must be (B, classes), got " + logits);
        int b = logits.dim(0), c = logits.dim(1);
        Args.size(targets, logits.size(), "loss: targets");
        Args.size(dlogits, logits.size(), "loss: dlogits");
        MemorySegment z = seg(logits), t = seg(targets), g = seg(dlogits);
        double total = 0;
        for (int r = 0; r < b; r++)
            total += kind == LossKind.SIGMOID ? sigmoidRow(z, t, g, (long) r * c, c, b) : softmaxRow(z, t, g, (long) r * c, c, b);
        return total / b;
    }

    /** sum_j max(z,0) - z t + log(1 + e^-|z|); gradient (sigmoid(z) - t) / B. */
    private static double sigmoidRow(MemorySegment z, MemorySegment t, MemorySegment g, long off, int c, int b) {
        double loss = 0;
        for (int j = 0; j < c; j++) {
            double x = z.getAtIndex(F32, off + j), y = t.getAtIndex(F32, off + j);
            double e = StrictMath.exp(-Math.abs(x));
            loss += Math.max(x, 0) - x * y + StrictMath.log1p(e);
            double sig = x >= 0 ? 1 / (1 + e) : e / (1 + e);
            g.setAtIndex(F32, off + j, (float) ((sig - y) / b));
        }
        return loss;
    }

    /** -sum_j t_j log softmax(z)_j; gradient (softmax(z) sum(t) - t) / B (targets may be multi-hot). */
    private static double softmaxRow(MemorySegment z, MemorySegment t, MemorySegment g, long off, int c, int b) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < c; j++) max = Math.max(max, z.getAtIndex(F32, off + j));
        double sum = 0;
        for (int j = 0; j < c; j++) sum += StrictMath.exp(z.getAtIndex(F32, off + j) - max);
        double lse = max + StrictMath.log(sum), tsum = 0, loss = 0;
        for (int j = 0; j < c; j++) {
            double y = t.getAtIndex(F32, off + j);
            tsum += y;
            loss -= y * (z.getAtIndex(F32, off + j) - lse);
        }
        for (int j = 0; j < c; j++) {
            double p = StrictMath.exp(z.getAtIndex(F32, off + j) - lse);
            g.setAtIndex(F32, off + j, (float) ((p * tsum - t.getAtIndex(F32, off + j)) / b));
        }
        return loss;
    }
}
