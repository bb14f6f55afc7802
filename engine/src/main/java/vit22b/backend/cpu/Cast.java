package vit22b.backend.cpu;

import static vit22b.tensor.HostStorage.BF16;
import static vit22b.tensor.HostStorage.F32;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import vit22b.io.DType;
import vit22b.tensor.Bf16;
import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/**
 * Element-type conversion on the host: float32 <-> bf16 and rounding float32 to bf16 values in
 * place, bit-identical to {@link Bf16} (the scalar definition; the lanes compute the same
 * integer arithmetic). Rounding in place is the bf16 reference's hot path: it runs on every
 * activation an op writes.
 */
final class Cast {
    private Cast() {}

    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** dst = src converted to dst's type (same size); the same type copies. */
    static void cast(Tensor dst, Tensor src) {
        Args.size(src, dst.size(), "cast: src");
        MemorySegment d = HostStorage.bytesOf(dst), s = HostStorage.bytesOf(src);
        int n = Math.toIntExact(dst.size());
        if (dst.dtype() == src.dtype()) {
            MemorySegment.copy(s, 0, d, 0, dst.bytes());
        } else if (dst.dtype() == DType.BF16) {
            Parallel.range(n, 1, (c, from, to) -> {
                for (int i = from; i < to; i++) d.setAtIndex(BF16, i, Bf16.fromFloat(s.getAtIndex(F32, i)));
            });
        } else {
            Parallel.range(n, 1, (c, from, to) -> {
                for (int i = from; i < to; i++) d.setAtIndex(F32, i, Bf16.toFloat(s.getAtIndex(BF16, i)));
            });
        }
    }

    /** t (F32) = each element rounded to the nearest bf16 value, in place. */
    static void roundToBf16(Tensor t) {
        MemorySegment d = HostStorage.segmentOf(t);
        Parallel.range(Math.toIntExact(t.size()), 1, (c, from, to) -> {
            int i = from;
            for (int end = from + I.loopBound(to - from); i < end; i += I.length()) {
                long off = (long) i * Float.BYTES;
                IntVector b = IntVector.fromMemorySegment(I, d, off, NATIVE);
                // Bf16.fromFloat lane-wise: add 0x7fff + lowest kept bit, keep the top half;
                // NaNs keep their top half with the quiet bit set.
                IntVector up = b.add(b.lanewise(VectorOperators.LSHR, 16).and(1).add(0x7fff)).and(0xffff0000);
                VectorMask<Integer> nan = b.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000);
                up.blend(b.or(0x00400000).and(0xffff0000), nan).intoMemorySegment(d, off, NATIVE);
            }
            for (; i < to; i++) d.setAtIndex(F32, i, Bf16.round(d.getAtIndex(F32, i)));
        });
    }
}
