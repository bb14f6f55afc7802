package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Supplier;

import org.junit.jupiter.api.Test;

import vit22b.kernels.TensorMap2d.Swizzle;

/**
 * TensorMap2d refuses, with the field named in one line, every map cuTensorMapEncodeTiled would
 * refuse; by-value struct arguments pass through KernelLauncher as their bytes; a runtime without
 * TMA says so. No GPU (the driver call itself is exercised by the GPU benchmark).
 */
class TensorMap2dTest {
    static final long A = 0x7f00_0000_0000L;

    static String refusal(Supplier<TensorMap2d> make) {
        String msg = assertThrows(IllegalArgumentException.class, make::get).getMessage();
        assertTrue(msg.lines().count() == 1, msg);
        return msg;
    }

    @Test void acceptsTheGemmTiles() {
        // bf16 K-major operand tile 64 x 64 (128 bytes a row: exactly the 128B swizzle span), ragged shape
        TensorMap2d m = new TensorMap2d(A, 300, 72, 144, 2, 128, 64, Swizzle.B128);
        assertEquals(128 * 64 * 2, m.boxBytes());
        // fp32 output tile, unswizzled, box wider than any swizzle span
        new TensorMap2d(A + 16, 1, 1 << 20, 4 << 20, 4, 256, 64, Swizzle.NONE);
    }

    @Test void refusesMisalignedAddressesAndStrides() {
        assertTrue(refusal(() -> new TensorMap2d(A + 8, 64, 64, 128, 2, 64, 64, Swizzle.B128)).contains("16-byte aligned"));
        assertTrue(refusal(() -> new TensorMap2d(0, 64, 64, 128, 2, 64, 64, Swizzle.B128)).contains("non-null"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 60, 120, 2, 64, 64, Swizzle.B128)).contains("multiple of 16"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 1L << 40, 2, 64, 64, Swizzle.B128)).contains("below 2^40"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 72, 128, 2, 64, 64, Swizzle.B128)).contains("narrower than a row"));
    }

    @Test void refusesBadDimensionsAndBoxes() {
        assertTrue(refusal(() -> new TensorMap2d(A, 0, 64, 128, 2, 64, 64, Swizzle.B128)).contains("[1, 2^32]"));
        assertTrue(refusal(() -> new TensorMap2d(A, (1L << 32) + 1, 64, 128, 2, 64, 64, Swizzle.B128)).contains("[1, 2^32]"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 128, 2, 257, 64, Swizzle.B128)).contains("[1, 256]"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 128, 2, 64, 0, Swizzle.B128)).contains("[1, 256]"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 128, 2, 64, 4, Swizzle.NONE)).contains("multiple of 16 bytes"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 128, 256, 2, 64, 128, Swizzle.B128)).contains("wider than the B128"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 256, 4, 64, 32, Swizzle.B64)).contains("wider than the B64"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 256, 8, 64, 32, Swizzle.NONE)).contains("only 2 (bf16) and 4"));
        assertTrue(refusal(() -> new TensorMap2d(A, 64, 64, 128, 2, 64, 64, null)).contains("Swizzle.NONE"));
    }

    @Test void swizzleOrdinalsAreTheDriversEnum() {
        // CU_TENSOR_MAP_SWIZZLE_NONE, _32B, _64B, _128B = 0..3: the encoder passes the ordinal
        assertEquals(0, Swizzle.NONE.ordinal());
        assertEquals(1, Swizzle.B32.ordinal());
        assertEquals(2, Swizzle.B64.ordinal());
        assertEquals(3, Swizzle.B128.ordinal());
        assertEquals(9, TensorMapEncoder.dataType(new TensorMap2d(A, 8, 8, 16, 2, 8, 8, Swizzle.NONE)));
        assertEquals(7, TensorMapEncoder.dataType(new TensorMap2d(A, 8, 8, 32, 4, 8, 8, Swizzle.NONE)));
    }

    @Test void structArgumentsPassAsTheirBytes() {
        byte[] map = new byte[TensorMapEncoder.BYTES];
        new java.util.Random(11).nextBytes(map);
        byte[] got = KernelLauncher.argumentBytes("k", 0, map);
        assertArrayEquals(map, got);
        got[0]++;   // a copy: the launch owns what it queued
        assertEquals(map[0] + 1, got[0]);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KernelLauncher.argumentBytes("k", 3, new byte[0]))
                .getMessage().contains("argument 3 is an empty byte[]"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KernelLauncher.argumentBytes("k", 1, "x"))
                .getMessage().contains("Long, Integer, Float or byte[]"));
    }

    @Test void runtimesWithoutTmaRefuse() {
        DeviceRuntime plain = (DeviceRuntime) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {DeviceRuntime.class}, (p, method, args) -> {
                    if (method.isDefault()) return java.lang.reflect.InvocationHandler.invokeDefault(p, method, args);
                    if (method.getName().equals("description")) return "test device";
                    throw new UnsupportedOperationException(method.getName());
                });
        String msg = assertThrows(CudaException.class,
                () -> plain.encodeTensorMap(new TensorMap2d(A, 8, 8, 16, 2, 8, 8, Swizzle.NONE))).getMessage();
        assertTrue(msg.startsWith("test device has no TMA"), msg);
    }
}
