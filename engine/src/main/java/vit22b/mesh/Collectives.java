package vit22b.mesh;

import java.lang.foreign.MemorySegment;

import vit22b.tensor.HostStorage;
import vit22b.tensor.Tensor;

/**
 * Ring collectives between CPU-thread devices along one mesh axis. Every device of the group
 * calls the same collective with same-sized tensors; chunk c of a gathered/scattered buffer
 * belongs to the device at position c on the axis. Ring algorithms: p - 1 steps, each moving
 * 1/p of the buffer to the next neighbour, which is what the simulator charges for them.
 */
public final class Collectives {
    private Collectives() {}

    /** out (p * n) = concatenation over the group of every device's in (n). */
    public static void allGather(CpuDevice d, Axis a, Tensor out, Tensor in) {
        int p = d.mesh().size(a), me = d.index(a);
        requireSize("all-gather", out, in.size() * p);
        MemorySegment o = CpuDevice.seg(out);
        long n = in.size() * Float.BYTES;
        MemorySegment.copy(CpuDevice.seg(in), 0, o, me * n, n);
        for (int s = 0; s < p - 1; s++) {
            d.send(a, +1, o.asSlice(Math.floorMod(me - s, p) * n, n));
            d.recv(a, -1, o.asSlice(Math.floorMod(me - s - 1, p) * n, n));
        }
    }

    /** out (n) = sum over the group of chunk (own position) of every device's in (p * n). */
    public static void reduceScatter(CpuDevice d, Axis a, Tensor out, Tensor in) {
        int p = d.mesh().size(a), me = d.index(a);
        requireSize("reduce-scatter", in, out.size() * p);
        MemorySegment i = CpuDevice.seg(in), acc = CpuDevice.seg(out);
        long n = out.size() * Float.BYTES;
        MemorySegment.copy(i, Math.floorMod(me - 1, p) * n, acc, 0, n);
        for (int s = 0; s < p - 1; s++) {
            d.send(a, +1, acc);
            d.recv(a, -1, acc);
            addInto(acc, i.asSlice(Math.floorMod(me - s - 2, p) * n, n));
        }
    }

    /** t = sum of t over the group (reduce-scatter then all-gather, in place; t divisible by p). */
    public static void allReduce(CpuDevice d, Axis a, Tensor t, Tensor scratch) {
        int p = d.mesh().size(a);
        if (t.size() % p != 0)
            throw new IllegalArgumentException("all-reduce of " + t.size() + " floats over " + p
                    + " devices: pad the buffer to a multiple of " + p);
        Tensor part = scratch.view(0, (int) (t.size() / p));
        reduceScatter(d, a, part, t);
        allGather(d, a, t, part);
    }

    /** Sends {@code send} to the next device on the ring and receives the previous one's into {@code recv}. */
    public static void shift(CpuDevice d, Axis a, Tensor send, Tensor recv) {
        requireSize("shift", recv, send.size());
        d.send(a, +1, CpuDevice.seg(send));
        d.recv(a, -1, CpuDevice.seg(recv));
    }

    /**
     * Both directions at once: sends {@code send} to both neighbours; {@code fromPrev} receives the
     * previous device's, {@code fromNext} the next device's.
     */
    public static void exchange(CpuDevice d, Axis a, Tensor send, Tensor fromPrev, Tensor fromNext) {
        requireSize("exchange", fromPrev, send.size());
        requireSize("exchange", fromNext, send.size());
        d.send(a, +1, CpuDevice.seg(send));
        d.send(a, -1, CpuDevice.seg(send));
        d.recv(a, -1, CpuDevice.seg(fromPrev));
        d.recv(a, +1, CpuDevice.seg(fromNext));
    }

    /** dst += src, element-wise (the local step of a reduction). */
    static void addInto(MemorySegment dst, MemorySegment src) {
        long n = dst.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++)
            dst.setAtIndex(HostStorage.F32, i, dst.getAtIndex(HostStorage.F32, i) + src.getAtIndex(HostStorage.F32, i));
    }

    private static void requireSize(String what, Tensor t, long n) {
        if (t.size() != n)
            throw new IllegalArgumentException(what + ": tensor " + t + " has " + t.size() + " floats, expected " + n);
    }
}
