package vit22b.backend.cpu;

import java.util.SplittableRandom;

import org.bytedeco.javacpp.FloatPointer;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * The rate OpenBLAS reaches on sgemm on this machine, now: the CPU's practical peak, against
 * which a training step's achieved FLOP/s is reported (DESIGN.md, "Performance accounting").
 * Times C (m x n) = A (m x k) @ B^T with B stored n x k, the layout of a Linear layer's
 * forward (PyTorch's out x in weights).
 */
public final class SgemmRate {

    /** One shape's result: the best of {@code reps} calls, as GFLOP/s (2mnk / best time). */
    public record Measurement(int m, int n, int k, int reps, double bestSeconds, double gflops) {}

    private SgemmRate() {}

    /** Threads OpenBLAS uses for one call (openblas_get_num_threads). */
    public static int threads() {
        try {
            return (int) nativeCall("openblas_get_num_threads", FunctionDescriptor.of(ValueLayout.JAVA_INT)).invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("cannot ask OpenBLAS for its thread count: " + t, t);
        }
    }

    /** OpenBLAS's build description (openblas_get_config), e.g. its version and core. */
    public static String config() {
        try {
            MemorySegment s = (MemorySegment) nativeCall("openblas_get_config",
                    FunctionDescriptor.of(ValueLayout.ADDRESS)).invokeExact();
            return s.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException("cannot ask OpenBLAS for its configuration: " + t, t);
        }
    }

    /**
     * A function of the OpenBLAS library the CPU backend loaded. The preset's own
     * blas_get_num_threads answers -1 for this build, so ask the library directly.
     */
    private static MethodHandle nativeCall(String name, FunctionDescriptor fd) {
        Loader.load(openblas.class);
        String lib = Loader.getLoadedLibraries().entrySet().stream()
                .filter(e -> e.getKey().startsWith("openblas@")).map(e -> e.getValue()).findFirst()
                .orElseThrow(() -> new IllegalStateException("OpenBLAS is not loaded: " + Loader.getLoadedLibraries().keySet()));
        MemorySegment f = SymbolLookup.libraryLookup(Path.of(lib), Arena.global()).find(name)
                .orElseThrow(() -> new IllegalStateException(lib + " has no symbol " + name));
        return Linker.nativeLinker().downcallHandle(f, fd);
    }

    /**
     * Repeats the sgemm for at least {@code minSeconds} (and at least 3 calls) after one
     * warm-up call, on seeded random inputs; the best call sets the rate (a peak is a peak,
     * and it makes fractions of it conservative).
     */
    public static Measurement measure(int m, int n, int k, double minSeconds) {
        try (FloatPointer a = random(1, (long) m * k); FloatPointer b = random(2, (long) n * k);
             FloatPointer c = new FloatPointer((long) m * n)) {
            multiply(a, b, c, m, n, k);
            long start = System.nanoTime(), best = Long.MAX_VALUE;
            int reps = 0;
            while (reps < 3 || System.nanoTime() - start < minSeconds * 1e9) {
                long t0 = System.nanoTime();
                multiply(a, b, c, m, n, k);
                best = Math.min(best, System.nanoTime() - t0);
                reps++;
            }
            double s = best / 1e9;
            return new Measurement(m, n, k, reps, s, 2.0 * m * n * k / s / 1e9);
        }
    }

    /** c (m x n) = a (m x k) @ b^T, b being n x k; all row-major. */
    static void multiply(FloatPointer a, FloatPointer b, FloatPointer c, int m, int n, int k) {
        openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans,
                openblas.CblasTrans, m, n, k, 1f, a, k, b, k, 0f, c, n);
    }

    static FloatPointer random(long seed, long n) {
        SplittableRandom r = new SplittableRandom(seed);
        FloatPointer p = new FloatPointer(n);
        float[] chunk = new float[(int) Math.min(n, 1 << 16)];
        for (long i = 0; i < n; i += chunk.length) {
            int len = (int) Math.min(chunk.length, n - i);
            for (int j = 0; j < len; j++) chunk[j] = (float) (2 * r.nextDouble() - 1);
            p.position(i).put(chunk, 0, len);
        }
        return p.position(0);
    }
}
