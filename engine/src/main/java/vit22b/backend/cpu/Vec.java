package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
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

    /**
     * Loads min(left, L) floats from s[off...], the other lanes 0: loop tails run through the
     * same lane code as the body, so an element's result never depends on where it falls. Only
     * the tail pays for the mask.
     */
    static FloatVector load(MemorySegment s, long off, int left) {
        return left >= L ? load(s, off) : FloatVector.fromMemorySegment(S, s, off * Float.BYTES, NATIVE, S.indexInRange(0, left));
    }

    /** Stores the first min(left, L) lanes of v at s[off...]. */
    static void store(FloatVector v, MemorySegment s, long off, int left) {
        if (left >= L) store(v, s, off);
        else v.intoMemorySegment(s, off * Float.BYTES, NATIVE, S.indexInRange(0, left));
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
