package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import vit22b.io.DType;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;

/**
 * BF16 tensors on the CUDA backend (the emulated device always, GPU 0 too when present) bit for
 * bit against {@link Bf16}: the cast kernels both ways, rounding in place, upload into and
 * download from BF16, copy and zero of views at odd offsets, on fresh random bit patterns (seed
 * printed) with every special value (NaN payloads, +-Inf, overflow, ties, subnormals).
 */
class CudaCastTest {
    static List<CudaBackend> devices;

    @BeforeAll static void open() { devices = Gpu.devicesOrSkip(); }

    @AfterAll static void close() {
        if (devices != null) for (CudaBackend d : devices) d.close();
    }

    static float[] randomBits(String test, int n) {
        long seed = System.nanoTime();
        System.err.println("CudaCastTest." + test + " seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = Float.intBitsToFloat(r.nextInt());
        int[] specials = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0x7fffffff,
            0xff800001, 0x7f7fffff, 0x7f7f8000, 0x3f808000, 0x3f818000, 0x00000001, 0x00008000, 0x00018000, 0x007fffff};
        for (int i = 0; i < specials.length; i++) x[i * 5] = Float.intBitsToFloat(specials[i]);
        return x;
    }

    static void assertBits(float want, float got, String what) {
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                () -> String.format("%s: 0x%08x, want 0x%08x", what, Float.floatToRawIntBits(got), Float.floatToRawIntBits(want)));
    }

    @Test void castRoundUploadDownload() {
        int n = 3001;   // odd: the bf16 buffers end mid-word
        for (CudaBackend be : devices) {
            float[] x = randomBits("castRoundUploadDownload", n);
            Tensor f = be.allocate(n), b = be.allocate(DType.BF16, n), back = be.allocate(n), up = be.allocate(DType.BF16, n),
                    r = be.allocate(n);
            be.upload(f, x);
            be.cast(b, f);
            be.cast(back, b);
            be.upload(up, x);
            be.upload(r, x);
            be.roundToBf16(r.view(1, n - 2));
            float[] viaCast = be.download(back), viaDownload = be.download(b), viaUpload = be.download(up), rounded = be.download(r);
            for (int i = 0; i < n; i++) {
                float want = Bf16.round(x[i]);
                String at = be.name() + " [" + i + "] of 0x" + Integer.toHexString(Float.floatToRawIntBits(x[i]));
                assertBits(want, viaCast[i], "cast f32->bf16->f32 " + at);
                assertBits(want, viaDownload[i], "download of bf16 " + at);
                assertBits(want, viaUpload[i], "upload into bf16 " + at);
                assertBits(i >= 1 && i < n - 1 ? want : x[i], rounded[i], "roundToBf16 " + at);
            }
            for (Tensor t : new Tensor[] {f, b, back, up, r}) be.free(t);
        }
    }

    @Test void copyAndZeroOfBf16Views() {
        int n = 1025;
        for (CudaBackend be : devices) {
            float[] x = randomBits("copyAndZeroOfBf16Views", n);
            Tensor a = be.allocate(DType.BF16, n), c = be.allocate(DType.BF16, n);
            be.upload(a, x);
            be.copy(c.view(3, n - 4), a.view(1, n - 4));   // odd offsets: 2-byte aligned only
            be.zero(c.view(7, 9));
            float[] got = be.download(c);
            for (int i = 0; i < n; i++) {
                float want = i < 3 || i == n - 1 || (i >= 7 && i < 16) ? 0f : Bf16.round(x[i - 2]);
                assertBits(want, got[i], be.name() + " copy/zero [" + i + "]");
            }
            Tensor f = be.allocate(n);   // an op refuses a mixture of element types, naming them
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.add(f, a));
            assertTrue(e.getMessage().contains("src is BF16 but dst is F32"), e.getMessage());
            be.free(f);
            be.free(a);
            be.free(c);
        }
    }
}
