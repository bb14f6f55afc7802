package vit22b.kernels.emu;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import vit22b.kernels.DeviceStream;
import vit22b.kernels.Kernels;

/**
 * One emulated device for a kernel test: a runtime, a stream, the {@link Kernels} wrappers on
 * it, a seeded random source (the seed printed), and device buffers freed on close. bf16 values
 * are raw shorts (bits), rounded to nearest even.
 */
final class EmuSession implements AutoCloseable {
    final EmulatedRuntime rt = EmulatedRuntime.open();
    final DeviceStream s = rt.createStream();
    final Kernels k = new Kernels(rt.launcher(), s);
    final SplittableRandom rnd;
    private final List<Long> allocations = new ArrayList<>();

    EmuSession(String test) {
        long seed = System.nanoTime();
        System.out.println(test + " seed " + seed);
        rnd = new SplittableRandom(seed);
    }

    static short bf16(double v) {
        int u = Float.floatToRawIntBits((float) v);
        return (short) ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);   // finite inputs: round to nearest even
    }

    static double widen(short h) { return Float.intBitsToFloat((h & 0xffff) << 16); }

    short[] randomBf16(int n, double lo, double hi) {
        short[] x = new short[n];
        for (int i = 0; i < n; i++) x[i] = bf16(rnd.nextDouble(lo, hi));
        return x;
    }

    long upload(MemorySegment data) {
        long d = rt.allocate(data.byteSize());
        allocations.add(d);
        MemorySegment host = rt.allocateHost(data.byteSize());
        host.copyFrom(data);
        rt.copyToDevice(d, host, data.byteSize(), s);
        s.synchronize();
        rt.freeHost(host);
        return d;
    }

    MemorySegment download(long d, long bytes) {
        MemorySegment host = rt.allocateHost(bytes), out = MemorySegment.ofArray(new byte[(int) bytes]);
        rt.copyToHost(host, d, bytes, s);
        s.synchronize();
        out.copyFrom(host);
        rt.freeHost(host);
        return out;
    }

    /** A device buffer of NaN bytes: what a kernel does not write stays NaN. */
    long fresh(long bytes) {
        long d = rt.allocate(bytes);
        allocations.add(d);
        return d;
    }

    @Override public void close() {
        for (long a : allocations) rt.free(a);
        rt.close();
    }
}
