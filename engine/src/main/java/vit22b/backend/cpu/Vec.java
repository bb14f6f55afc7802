package vit22b.backend.cpu;

import static vit22b.tensor.HostStorage.F32;

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
     * Loads the last {@code left} (< L) floats of a row from s[off...] into the first lanes, the
     * other lanes {@code fill}: loop tails run through the same lane code as the body, so an
     * element's result never depends on where it falls. Through a small array, not a masked
     * load: on AVX2 C2 compiles masked segment accesses into a large slow path that, inlined on
     * every iteration, pushed the lane math of the loop body out of C2's inlining budget
     * (Vector API calls left as boxed fallbacks, 1.6x slower training steps).
     */
    static FloatVector loadTail(MemorySegment s, long off, int left, float fill) {
        float[] a = new float[L];
        if (fill != 0) java.util.Arrays.fill(a, left, L, fill);
        MemorySegment.copy(s, F32, off * Float.BYTES, a, 0, left);
        return FloatVector.fromArray(S, a, 0);
    }

    /** Stores the first {@code left} (< L) lanes of v at s[off...]: the twin of {@link #loadTail}. */
    static void storeTail(FloatVector v, MemorySegment s, long off, int left) {
        MemorySegment.copy(v.toArray(), 0, s, F32, off * Float.BYTES, left);
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
