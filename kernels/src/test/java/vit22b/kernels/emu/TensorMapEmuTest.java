package vit22b.kernels.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.kernels.CudaException;
import vit22b.kernels.TensorMap2d;

/**
 * EmulatedRuntime.encodeTensorMap: the 128 bytes are the encoding kernels/src/emu/README.md
 * documents (decoded here field by field, independently of hopper.cpp), for random valid maps;
 * a map reaching past its allocation is refused with one line. (TMA through these bytes is
 * tested by the C++ suite, test_hopper.cpp.)
 */
class TensorMapEmuTest {
    @Test void encodesTheDocumentedLayout() {
        long seed = System.nanoTime();
        System.out.println("TensorMapEmuTest seed " + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        try (EmulatedRuntime rt = EmulatedRuntime.open()) {
            long base = rt.allocate(1 << 20);
            for (int trial = 0; trial < 20; trial++) {
                TensorMap2d.Swizzle sw = TensorMap2d.Swizzle.values()[rnd.nextInt(4)];
                int elem = rnd.nextBoolean() ? 2 : 4;
                int span = sw == TensorMap2d.Swizzle.NONE ? 256 * elem : sw.span;
                int boxCols = 16 / elem * (1 + rnd.nextInt(Math.min(256 * elem, span) / 16));
                int boxRows = 1 + rnd.nextInt(256);
                long cols = 1 + rnd.nextInt(300), rows = 1 + rnd.nextInt(200);
                long stride = (cols * elem + 15) / 16 * 16 + 16L * rnd.nextInt(3);
                long address = base + 16L * rnd.nextInt(64);
                TensorMap2d m = new TensorMap2d(address, rows, cols, stride, elem, boxRows, boxCols, sw);
                byte[] bytes = rt.encodeTensorMap(m);
                assertEquals(128, bytes.length);
                ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                assertEquals(0x3150414d54554d45L, b.getLong(0), "magic EMUTMAP1");
                assertEquals(address, b.getLong(8));
                assertEquals(rows, b.getLong(16));
                assertEquals(cols, b.getLong(24));
                assertEquals(stride, b.getLong(32));
                assertEquals(elem, b.getInt(40));
                assertEquals(boxRows, b.getInt(44));
                assertEquals(boxCols, b.getInt(48));
                assertEquals(sw.ordinal(), b.getInt(52), "CUtensorMapSwizzle value");
                for (int i = 56; i < 128; i++) assertEquals(0, bytes[i], "byte " + i + " is reserved (0)");
            }
            rt.free(base);
        }
    }

    @Test void refusesAMatrixPastItsAllocation() {
        try (EmulatedRuntime rt = EmulatedRuntime.open()) {
            long base = rt.allocate(64 * 128);
            rt.encodeTensorMap(new TensorMap2d(base, 64, 64, 128, 2, 64, 64, TensorMap2d.Swizzle.B128));
            CudaException e = assertThrows(CudaException.class,
                    () -> rt.encodeTensorMap(new TensorMap2d(base, 65, 64, 128, 2, 64, 64, TensorMap2d.Swizzle.B128)));
            assertTrue(e.getMessage().contains("outside every allocation"), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line");
            rt.free(base);
        }
    }
}
