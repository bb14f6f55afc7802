package vit22b.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels shared by the ops (widest vectors of the CPU; scalar tails). Offsets
 * are in floats, for arrays and segments alike.
 */
final class Vec {
    private Vec() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    static FloatVector load(MemorySegment s, long off) { return FloatVector.fromMemorySegment(S, s, off * Float.BYTES, NATIVE); }

    static void store(FloatVector v, MemorySegment s, long off) { v.intoMemorySegment(s, off * Float.BYTES, NATIVE); }

    /** n rounded up to whole vectors. */
    static int padded(int n) { return (n + L - 1) / L * L; }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int e = 0;
        for (int end = S.loopBound(n); e < end; e += L)
            acc = FloatVector.fromArray(S, a, ao + e).fma(FloatVector.fromArray(S, b, bo + e), acc);
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; e < n; e++) s += a[ao + e] * b[bo + e];
        return s;
    }

    /** y[yo..yo+n) += alpha * x[xo..xo+n). */
    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector va = FloatVector.broadcast(S, alpha);
        int e = 0;
        for (int end = S.loopBound(n); e < end; e += L)
            FloatVector.fromArray(S, x, xo + e).fma(va, FloatVector.fromArray(S, y, yo + e)).intoArray(y, yo + e);
        for (; e < n; e++) y[yo + e] += alpha * x[xo + e];
    }

    /** dst[do..do+n) += src[so..so+n) in a segment. */
    static void addInto(MemorySegment dst, long dOff, float[] src, int sOff, int n) {
        int e = 0;
        for (int end = S.loopBound(n); e < end; e += L)
            store(load(dst, dOff + e).add(FloatVector.fromArray(S, src, sOff + e)), dst, dOff + e);
        for (; e < n; e++) dst.setAtIndex(vit22b.tensor.HostStorage.F32, dOff + e,
                dst.getAtIndex(vit22b.tensor.HostStorage.F32, dOff + e) + src[sOff + e]);
    }
}
