package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API helpers shared by the ops: the widest float vectors of the CPU, loaded from
 * and stored to segments at float offsets.
 */
final class Vec {
    private Vec() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    static FloatVector load(MemorySegment s, long off) { return FloatVector.fromMemorySegment(S, s, off * Float.BYTES, NATIVE); }

    static void store(FloatVector v, MemorySegment s, long off) { v.intoMemorySegment(s, off * Float.BYTES, NATIVE); }

    /** The first {@code n} (< L) lanes of a vector, for loop tails computed by the same lane code as the body. */
    static VectorMask<Float> first(int n) { return S.indexInRange(0, n); }

    /** Loads the lanes of {@code m} from s[off...], the others 0. */
    static FloatVector load(MemorySegment s, long off, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(S, s, off * Float.BYTES, NATIVE, m);
    }

    static void store(FloatVector v, MemorySegment s, long off, VectorMask<Float> m) {
        v.intoMemorySegment(s, off * Float.BYTES, NATIVE, m);
    }

    /**
     * Sum of the lanes in lane order. Not reduceLanes(ADD): its order is unspecified and does
     * change between the interpreter and C2's intrinsic, which broke bit-exact resume.
     */
    static float sum(FloatVector v) {
        float[] a = v.toArray();
        float s = 0;
        for (float x : a) s += x;
        return s;
    }

    static double sum(DoubleVector v) {
        double[] a = v.toArray();
        double s = 0;
        for (double x : a) s += x;
        return s;
    }
}
