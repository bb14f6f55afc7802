package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Operands;
import vit22b.kernels.TensorMap2d.Swizzle;

/**
 * Kernels.gemmBf16Wgmma: the launch shape of gemm_bf16_wgmma.cu's header (persistent clusters of 2:
 * 2 min(pairs of tiles along M, blocks / 2)), the tensor maps it asks the runtime for in each form
 * (K-major A a whole tile of rows per box, K-major B half a tile, MN-major operands 64 x 64, all
 * 128B-swizzled), and the refusals it shares with gemm_bf16_mma; no GPU.
 */
class WgmmaGemmGuardsTest {
    static final long BASE = 0x7f00_0000_0000L, B = BASE + 0x10_0000, C = BASE + 0x100_0000;

    /** The clusters {@link #recording(List)}'s device holds at once (the emulated device's 4 SMs / 2). */
    static final int CLUSTERS = 2;

    /** A Hopper runtime that records the maps it is asked to encode (each encoding its index in the first byte). */
    static DeviceRuntime recording(List<TensorMap2d> maps) { return recording(maps, CLUSTERS); }

    /** As {@link #recording(List)}, holding {@code clusters} clusters at once (cuOccupancyMaxActiveClusters). */
    static DeviceRuntime recording(List<TensorMap2d> maps, int clusters) {
        return (DeviceRuntime) java.lang.reflect.Proxy.newProxyInstance(WgmmaGemmGuardsTest.class.getClassLoader(),
                new Class<?>[] {DeviceRuntime.class}, (p, method, args) -> switch (method.getName()) {
                    case "hopper" -> true;
                    case "description" -> "a test Hopper";
                    case "maxActiveClusters" -> {
                        assertEquals(List.of("gemm_bf16_wgmma", 2, 384, Kernels.WGMMA_SMEM_BYTES), List.of(args));
                        yield clusters;
                    }
                    case "encodeTensorMap" -> {
                        maps.add((TensorMap2d) args[0]);
                        byte[] b = new byte[TensorMapEncoder.BYTES];
                        b[0] = (byte) maps.size();
                        yield b;
                    }
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    static LaunchTable.Launch call(Operands o, List<TensorMap2d> maps) {
        return call(o, new TensorMapCache(recording(maps)));
    }

    static LaunchTable.Launch call(Operands o, TensorMapCache cache) {
        LaunchTable.Recorder r = new LaunchTable.Recorder();
        new Kernels(r, null).gemmBf16Wgmma(cache, o, Epilogue.plain(true));
        return r.launches().isEmpty() ? null : r.launches().get(0);
    }

    @Test void launchShapeAndMapsPerForm() {
        // 300 x 700 x 37: 3 x 3 tiles of 128 x 256, 2 x 3 pairs along M, on the emulated device's 4 blocks (2 clusters)
        List<TensorMap2d> maps = new ArrayList<>();
        LaunchTable.Launch l = call(new Operands(Form.NT, BASE, 40, B, 48, C, 700, 300, 700, 37), maps);
        assertEquals("gemm_bf16_wgmma", l.kernel());
        assertEquals(2 * CLUSTERS, l.grid()[0]);
        assertEquals(1, l.grid()[1]);
        assertEquals(384, l.threads());
        // the ring, 2 consumers x (a 64 x 128-byte staging sub-tile + 128 threads x 16 fp32), 8 mbarriers, alignment slack
        assertEquals(4 * (128 + 256) * 64 * 2 + 2 * (64 * 128 + 128 * 16 * 4) + 64 + 1024, l.sharedBytes());
        assertTrue(l.sharedBytes() <= 227 * 1024, "a Hopper block's shared memory");
        assertEquals(Form.NT.ordinal(), l.args()[0]);
        assertEquals(TensorMapEncoder.BYTES, ((byte[]) l.args()[1]).length);
        assertEquals(new TensorMap2d(BASE, 300, 37, 80, 2, 128, 64, Swizzle.B128), maps.get(0));   // A: M x K, K-major
        assertEquals(new TensorMap2d(B, 700, 37, 96, 2, 128, 64, Swizzle.B128), maps.get(1));      // B: N x K, K-major, half a tile
        // C (bf16, ldc 700: 1400-byte rows, not a multiple of 16): stored directly, no map (zeros), tmaC 0
        assertEquals(2, maps.size());
        assertEquals(0, ((byte[]) l.args()[3])[0]);
        assertEquals(0, l.args()[4]);

        // one tile: one cluster of 2 blocks (the second's rows lie past M); 3 tile rows: 2 pairs, 2 clusters
        assertEquals(2, call(new Operands(Form.NT, BASE, 40, B, 48, C, 256, 128, 256, 37), new ArrayList<>()).grid()[0]);
        assertEquals(2, call(new Operands(Form.NT, BASE, 40, B, 48, C, 256, 256, 256, 37), new ArrayList<>()).grid()[0]);
        assertEquals(4, call(new Operands(Form.NT, BASE, 40, B, 48, C, 256, 257, 256, 37), new ArrayList<>()).grid()[0]);

        maps.clear();
        l = call(new Operands(Form.NN, BASE, 40, B, 704, C, 704, 300, 700, 37), maps);
        assertEquals(new TensorMap2d(B, 37, 700, 1408, 2, 64, 64, Swizzle.B128), maps.get(1));     // B: K x N, MN-major
        // C (ldc 704: 1408-byte rows, C 16-byte aligned): the TMA store, boxes of 64 rows x 64 bf16
        assertEquals(new TensorMap2d(C, 300, 700, 1408, 2, 64, 64, Swizzle.B128), maps.get(2));
        assertEquals(1, l.args()[4]);

        maps.clear();
        call(new Operands(Form.TN, BASE, 304, B, 704, C, 700, 300, 700, 37), maps);
        assertEquals(new TensorMap2d(BASE, 37, 300, 608, 2, 64, 64, Swizzle.B128), maps.get(0));   // A: K x M, MN-major
        assertEquals(new TensorMap2d(B, 37, 700, 1408, 2, 64, 64, Swizzle.B128), maps.get(1));
    }

    /**
     * The grid is 2 x the clusters the device holds at once (cuOccupancyMaxActiveClusters: below
     * SMs / 2 when a GPC has an odd SM free), capped by the pairs of tiles; a device that holds
     * none is refused naming the kernel and the fix.
     */
    @Test void gridIsTheClustersTheDeviceHolds() {
        Operands o = new Operands(Form.NT, BASE, 64, B, 64, C, 4096, 4096, 4096, 64);   // 32 x 16 tiles: 256 pairs
        assertEquals(2 * 65, call(o, new TensorMapCache(recording(new ArrayList<>(), 65))).grid()[0]);
        assertEquals(2 * 256, call(o, new TensorMapCache(recording(new ArrayList<>(), 300))).grid()[0]);
        String m = assertThrows(CudaException.class, () -> call(o, new TensorMapCache(recording(new ArrayList<>(), 0)))).getMessage();
        assertTrue(m.startsWith("gemm_bf16_wgmma NT 4096x4096x64: a test Hopper cannot co-schedule one cluster of 2 blocks of 384 "
                + "threads and " + Kernels.WGMMA_SMEM_BYTES + " bytes") && m.endsWith("use gemmBf16Mma"), m);
    }

    @Test void emptyOutputLaunchesNothingAndBuildsNoMap() {
        List<TensorMap2d> maps = new ArrayList<>();
        assertEquals(null, call(new Operands(Form.NT, BASE, 40, B, 40, C, 8, 0, 8, 37), maps));
        assertTrue(maps.isEmpty());
    }

    @Test void refusesWhatTmaCannotMove() {
        List<TensorMap2d> maps = new ArrayList<>();
        String m = assertThrows(IllegalArgumentException.class,
                () -> call(new Operands(Form.NT, BASE, 36, B, 40, C, 8, 8, 8, 36), maps)).getMessage();
        assertTrue(m.startsWith("gemm_bf16_wgmma NT 8x8x36: row strides lda=36"), m);
        m = assertThrows(IllegalArgumentException.class,
                () -> call(new Operands(Form.NN, BASE + 8, 40, B, 40, C, 8, 8, 8, 36), maps)).getMessage();
        assertTrue(m.contains("16-byte aligned"), m);
        m = assertThrows(IllegalArgumentException.class,
                () -> call(new Operands(Form.TN, BASE, 40, B, 40, C, 8, 8, 8, 0), maps)).getMessage();
        assertTrue(m.contains("K >= 1"), m);
        assertTrue(maps.isEmpty());
    }

    @Test void aDeviceThatIsNotAHopperIsRefused() {
        DeviceRuntime sm80 = (DeviceRuntime) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {DeviceRuntime.class}, (p, method, args) -> {
                    if (method.isDefault()) return java.lang.reflect.InvocationHandler.invokeDefault(p, method, args);
                    if (method.getName().equals("description")) return "an A100";
                    throw new UnsupportedOperationException(method.getName());
                });
        String m = assertThrows(CudaException.class, () -> new Kernels(new LaunchTable.Recorder(), null).gemmBf16Wgmma(
                new TensorMapCache(sm80), new Operands(Form.NT, BASE, 40, B, 40, C, 8, 8, 8, 36), Epilogue.plain(true))).getMessage();
        assertTrue(m.startsWith("gemm_bf16_wgmma NT 8x8x36: needs a Hopper") && m.contains("an A100 is not: use gemmBf16Mma"), m);
    }

    /**
     * The cache encodes each distinct map once and hands the same bytes to every later launch; a
     * map that differs in any field (here the address, then the stride) is encoded anew; clear()
     * forgets them all; beyond CAPACITY the least recently used go.
     */
    @Test void tensorMapsAreEncodedOncePerMap() {
        List<TensorMap2d> encoded = new ArrayList<>();
        TensorMapCache cache = new TensorMapCache(recording(encoded));
        Operands o = new Operands(Form.NT, BASE, 40, B, 48, C, 700, 300, 700, 37);
        LaunchTable.Launch first = call(o, cache), again = call(o, cache);
        assertEquals(2, encoded.size());
        assertEquals(2, cache.encodes());
        assertTrue(first.args()[1] == again.args()[1] && first.args()[2] == again.args()[2], "the cached bytes are passed");
        call(new Operands(Form.NT, BASE + 16, 40, B, 48, C, 700, 300, 700, 37), cache);   // A moved: one new map
        assertEquals(3, encoded.size());
        assertEquals(new TensorMap2d(BASE + 16, 300, 37, 80, 2, 128, 64, Swizzle.B128), encoded.get(2));
        call(new Operands(Form.NT, BASE, 48, B, 48, C, 700, 300, 700, 37), cache);        // A's stride changed
        assertEquals(4, encoded.size());
        cache.clear();
        call(o, cache);
        assertEquals(6, encoded.size());
        for (int i = 0; i < TensorMapCache.CAPACITY + 1; i++)
            cache.encode(new TensorMap2d(BASE + 16L * i, 8, 8, 16, 2, 8, 8, Swizzle.NONE));
        assertEquals(TensorMapCache.CAPACITY, cache.size());
        long before = cache.encodes();
        cache.encode(new TensorMap2d(BASE, 8, 8, 16, 2, 8, 8, Swizzle.NONE));   // the eldest: dropped, encoded again
        assertEquals(before + 1, cache.encodes());
    }

    /** Kernels.wgmmaQkRefusal: a valid in-projection is taken (null); q's column out of [0, N - 3D] is refused by name. */
    @Test void fusedInProjectionRefusesQkColumnsOutsideC() {
        int tokens = 50, heads = 2, hd = 64, D = heads * hd, mlp = 256;
        Operands o = new Operands(Form.NT, BASE, 128, B, 128, C, mlp + 3 * D, 2 * tokens, mlp + 3 * D, 128);
        long t = C + 0x10_0000;
        MmaGemm.QkNorm ok = new MmaGemm.QkNorm(t, t + 0x1000, t + 0x2000, t + 0x3000, t + 0x4000, t + 0x5000, mlp, tokens, heads,
                hd, true, 1e-6f);
        assertEquals(null, Kernels.wgmmaQkRefusal(o, null, ok));
        for (int col0 : new int[] {-hd, mlp + hd}) {   // -64 % 64 == 0 in Java: qkFits alone does not catch it
            MmaGemm.QkNorm bad = new MmaGemm.QkNorm(t, t + 0x1000, t + 0x2000, t + 0x3000, t + 0x4000, t + 0x5000, col0, tokens,
                    heads, hd, true, 1e-6f);
            String why = Kernels.wgmmaQkRefusal(o, null, bad);
            assertTrue(why != null && why.contains("from column " + col0) && why.contains("inside the N = " + o.n()), why);
        }
    }
}
