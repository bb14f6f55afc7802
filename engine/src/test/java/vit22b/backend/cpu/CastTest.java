package vit22b.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import vit22b.io.DType;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;

/**
 * The CPU backend's BF16 tensors and conversions bit for bit against {@link Bf16} (itself
 * checked against arithmetic in Bf16Test): random bit patterns (seed printed) with every special
 * value, sizes that leave vector tails, views at odd offsets.
 */
class CastTest {
    static CpuBackend be;

    @BeforeAll static void open() { be = new CpuBackend(); }
    @AfterAll static void close() { be.close(); }

    static float[] randomBits(String test, int n) {
        long seed = System.nanoTime();
        System.err.println("CastTest." + test + " seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = Float.intBitsToFloat(r.nextInt());
        int[] specials = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0x7fffffff,
            0xff800001, 0x7f7fffff, 0x7f7f8000, 0x3f808000, 0x3f818000, 0x00000001, 0x00008000, 0x00018000, 0x007fffff};
        for (int i = 0; i < specials.length; i++) x[i * 7] = Float.intBitsToFloat(specials[i]);
        return x;
    }

    static void assertBits(float want, float got, String what) {
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                () -> String.format("%s: 0x%08x, want 0x%08x", what, Float.floatToRawIntBits(got), Float.floatToRawIntBits(want)));
    }

    @Test void roundInPlaceMatchesScalar() {
        int n = 10_007;   // not a multiple of any vector length: the scalar tail runs too
        float[] x = randomBits("roundInPlaceMatchesScalar", n);
        Tensor t = be.allocate(n);
        be.upload(t, x);
        be.roundToBf16(t.view(3, n - 5));   // a view: its neighbours stay
        float[] got = be.download(t);
        for (int i = 0; i < n; i++)
            assertBits(i >= 3 && i < n - 2 ? Bf16.round(x[i]) : x[i], got[i], "roundToBf16[" + i + "] of " + x[i]);
        be.free(t);
    }

    @Test void castBothWaysAndUploadDownload() {
        int n = 4099;
        float[] x = randomBits("castBothWaysAndUploadDownload", n);
        Tensor f = be.allocate(n), b = be.allocate(DType.BF16, n), back = be.allocate(n), up = be.allocate(DType.BF16, n);
        assertEquals(DType.BF16, b.dtype());
        assertEquals(2L * n, b.bytes());
        be.upload(f, x);
        be.cast(b, f);
        be.cast(back, b);
        be.upload(up, x);   // upload into BF16 rounds the same way
        float[] viaCast = be.download(back), viaDownload = be.download(b), viaUpload = be.download(up);
        for (int i = 0; i < n; i++) {
            float want = Bf16.round(x[i]);
            assertBits(want, viaCast[i], "cast f32->bf16->f32 [" + i + "]");
            assertBits(want, viaDownload[i], "download of bf16 [" + i + "]");
            assertBits(want, viaUpload[i], "upload into bf16 [" + i + "]");
        }
        // copy keeps bf16 bits; zero clears exactly a view of odd offset and size
        Tensor b2 = be.allocate(DType.BF16, n);
        be.copy(b2, b);
        be.zero(b2.view(5, 11));
        float[] c = be.download(b2);
        for (int i = 0; i < n; i++) assertBits(i >= 5 && i < 16 ? 0f : Bf16.round(x[i]), c[i], "copy/zero [" + i + "]");
        for (Tensor t : new Tensor[] {f, b, back, up, b2}) be.free(t);
    }

    @Test void refusals() {
        Tensor f = be.allocate(8), b = be.allocate(DType.BF16, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.copy(f, b));
        assertTrue(e.getMessage().contains("cast converts types"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> be.scale(b, 2f));
        assertTrue(e.getMessage().contains("holds BF16") && e.getMessage().contains("cast it to F32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> be.allocate(DType.F16, 4));
        assertTrue(e.getMessage().contains("F32 or BF16"), e.getMessage());
        be.free(f);
        be.free(b);
    }
}
