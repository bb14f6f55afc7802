package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.backend.Backend;
import vit22b.backend.Backend.AdamwRange;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.kernels.Kernels;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * {@link Backend#queueAdamw} writing the compute copy in the update's pass (CUDA: adamw_multi,
 * one launch over a chunk table): on every backend the copy equals the updated masters rounded
 * by {@link Bf16#round}, bit for bit, after each step; the masters and moments equal those of the
 * CPU's update without a copy (bit for bit on the CPU, 1e-6 on CUDA); a non-finite gradient leaves
 * masters, moments and copy exactly as they were; elements outside every range are never touched.
 * Four decay ranges with different weight decay, one crossing a chunk boundary, a size that is no
 * multiple of the chunk or of the 4-wide vectors, clipping active (norms near 50, clip 1).
 */
class FusedAdamwTest {
    static final int N = 2 * Kernels.ADAMW_CHUNK + 1237, GAP = 5;   // the last GAP elements are in no range
    static final List<AdamwRange> RANGES = List.of(new AdamwRange(0, 7, 0f), new AdamwRange(7, 4090, 0.05f),
            new AdamwRange(4097, 1, 0.3f), new AdamwRange(4098, N - GAP - 4098, 0.1f));
    static final float B1 = 0.9f, B2 = 0.95f, EPS = 1e-8f, CLIP = 1f;
    static final float[] LRS = {3e-3f, 2e-3f, 1e-3f, 5e-3f};
    static final int NAN_STEP = 2;   // step (0-based) whose gradient holds a NaN

    /** Per step: masters, m, v after it, and its norm; a NaN step's gradient at one random element. */
    record Run(float[][] p, float[][] m, float[][] v, double[] norms) {}

    /** The steps on {@code be}, copy of type {@code copyType} (null: no copy), checking the copy after each. */
    static Run run(Backend be, DType copyType, long seed, String what) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] p0 = Check.uniform(r.nextLong(), N, -1, 1), m0 = Check.uniform(r.nextLong(), N, -0.1, 0.1),
                v0 = Check.uniform(r.nextLong(), N, 0, 0.01), c0 = Check.uniform(r.nextLong(), N, -1, 1);
        Tensor p = put(be, p0), m = put(be, m0), v = put(be, v0), g = be.allocate(N);
        Tensor copy = copyType == null ? null : be.allocate(copyType, N);
        if (copy != null) be.upload(copy, c0);
        Run out = new Run(new float[LRS.length][], new float[LRS.length][], new float[LRS.length][], new double[LRS.length]);
        int done = 0;
        for (int s = 0; s < LRS.length; s++) {
            float[] gs = Check.uniform(r.nextLong(), N, -1, 1);
            if (s == NAN_STEP) gs[r.nextInt(N)] = Float.NaN;
            be.upload(g, gs);
            float[] pBefore = be.download(p), mBefore = be.download(m), vBefore = be.download(v);
            float[] cBefore = copy == null ? null : be.download(copy);
            be.setAdamwStep(LRS[s], done);
            be.queueAdamw(p, g, m, v, copy, RANGES, B1, B2, EPS, CLIP);
            out.norms[s] = be.queuedGradNorm();
            out.p[s] = be.download(p);
            out.m[s] = be.download(m);
            out.v[s] = be.download(v);
            String at = what + ", step " + (s + 1) + ", seed " + seed;
            if (s == NAN_STEP) {
                assertTrue(Double.isNaN(out.norms[s]), at + ": norm " + out.norms[s]);
                assertArrayEquals(pBefore, out.p[s], at + ": a non-finite step changed the masters");
                assertArrayEquals(mBefore, out.m[s], at + ": a non-finite step changed m");
                assertArrayEquals(vBefore, out.v[s], at + ": a non-finite step changed v");
                if (copy != null) assertArrayEquals(cBefore, be.download(copy), at + ": a non-finite step changed the copy");
                continue;
            }
            done++;
            assertTrue(out.norms[s] > 10 * CLIP, at + ": clipping not exercised, norm " + out.norms[s]);
            for (int i = N - GAP; i < N; i++)
                assertEquals(pBefore[i], out.p[s][i], at + ": masters outside every range changed at " + i);
            if (copy != null) {
                float[] c = be.download(copy);
                for (int i = 0; i < N; i++) {
                    float want = i < N - GAP ? Bf16.round(out.p[s][i]) : Bf16.round(c0[i]);
                    if (Float.floatToRawIntBits(c[i]) != Float.floatToRawIntBits(want))
                        throw new AssertionError(at + ": copy[" + i + "] = " + c[i] + ", the updated master " + out.p[s][i]
                                + " rounds to " + want);
                }
                be.free(copy);   // and a fresh one next step: the copy is written, not updated
                copy = be.allocate(copyType, N);
                be.upload(copy, c0);
            }
        }
        for (Tensor t : new Tensor[] {p, m, v, g}) be.free(t);
        if (copy != null) be.free(copy);
        return out;
    }

    static Tensor put(Backend be, float[] x) {
        Tensor t = be.allocate(x.length);
        be.upload(t, x);
        return t;
    }

    /** The reference: the CPU's update, float32, no copy. */
    static Run reference(long seed) {
        try (CpuBackend cpu = new CpuBackend()) {
            return run(cpu, null, seed, "cpu fp32");
        }
    }

    static void assertSame(Run want, Run got, double tol, String what) {
        for (int s = 0; s < LRS.length; s++) {
            String at = what + ", step " + (s + 1);
            if (tol == 0) {
                assertArrayEquals(want.p[s], got.p[s], at + ": masters");
                assertArrayEquals(want.m[s], got.m[s], at + ": m");
                assertArrayEquals(want.v[s], got.v[s], at + ": v");
            } else {
                Check.assertClose(at + ": masters", got.p[s], Check.toDouble(want.p[s]), tol);
                Check.assertClose(at + ": m", got.m[s], Check.toDouble(want.m[s]), tol);
                Check.assertClose(at + ": v", got.v[s], Check.toDouble(want.v[s]), tol);
            }
            if (s != NAN_STEP) assertEquals(want.norms[s], got.norms[s], 1e-9 * want.norms[s], at + ": norm");
        }
    }

    @Test void cpuWritesTheRoundedMastersIntoTheCopy() {
        long seed = System.nanoTime();
        System.err.println("FusedAdamwTest.cpu seed " + seed);
        Run ref = reference(seed);
        try (CpuBackend cpu = new CpuBackend()) {
            assertSame(ref, run(cpu, DType.BF16, seed, "cpu, bf16 copy"), 0, "cpu, bf16 copy");
        }
        try (Bf16Rounding bf = new Bf16Rounding(new CpuBackend())) {
            assertSame(ref, run(bf, DType.BF16, seed, "bf16 reference"), 0, "bf16 reference");
        }
    }

    @Test void cudaWritesTheRoundedMastersIntoTheCopy() {
        long seed = System.nanoTime();
        System.err.println("FusedAdamwTest.cuda seed " + seed);
        Run ref = reference(seed);
        List<CudaBackend> devices = Gpu.devicesOrSkip();
        try {
            for (CudaBackend d : devices) {
                String dev = d.device().description();
                assertSame(ref, run(d, null, seed, dev + ", no copy"), 1e-6, dev + ", no copy");
                assertSame(ref, run(d, DType.BF16, seed, dev + ", bf16 copy"), 1e-6, dev + ", bf16 copy");
                // the bf16 reference around CUDA: the copy is float32 storage holding bf16 values
                assertSame(ref, run(new Bf16Rounding(d), DType.BF16, seed, dev + ", float32 copy"), 1e-6, dev + ", float32 copy");
            }
        } finally {
            for (CudaBackend d : devices) d.close();
        }
    }

    /** The single-range update writes the copy too; a copy of another size, or a bf16 backend's non-BF16 copy, is refused. */
    @Test void adamwWritesTheCopyAndBadCopiesAreRefused() {
        long seed = System.nanoTime();
        System.err.println("FusedAdamwTest.adamw seed " + seed);
        try (Bf16Rounding be = new Bf16Rounding(new CpuBackend())) {
            Tensor p = put(be, Check.uniform(seed, 1001, -1, 1)), g = put(be, Check.uniform(seed + 1, 1001, -1, 1)),
                    m = be.allocate(1001), v = be.allocate(1001), copy = be.allocate(DType.BF16, 1001);
            be.adamw(p, g, m, v, copy, 1e-2f, B1, B2, EPS, 0.1f, 0.5f, 1);
            float[] want = be.download(p), got = be.download(copy);
            for (int i = 0; i < want.length; i++) want[i] = Bf16.round(want[i]);
            assertArrayEquals(want, got, "adamw's copy is not the rounded updated masters");
            Tensor f32 = be.allocate(1001), small = be.allocate(DType.BF16, 1000);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> be.adamw(p, g, m, v, f32, 1e-2f, B1, B2, EPS, 0f, 1f, 2));
            assertTrue(e.getMessage().contains("not a BF16 tensor"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> be.queueAdamw(p, g, m, v, small, List.of(new AdamwRange(0, 1001, 0f)), B1, B2, EPS, 0f));
            assertTrue(e.getMessage().contains("copy"), e.getMessage());
            assertTrue(Arrays.equals(got, be.download(copy)), "a refused update wrote the copy");
        }
    }
}
