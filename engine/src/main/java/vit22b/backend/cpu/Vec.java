package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

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
}
