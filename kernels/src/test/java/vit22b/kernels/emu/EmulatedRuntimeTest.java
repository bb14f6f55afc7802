package vit22b.kernels.emu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceGraph;
import vit22b.kernels.DeviceStream;
import vit22b.kernels.KernelLauncher;

/**
 * The emulated runtime's model of a GPU (NaN memory, lazy unordered streams, events, capture
 * and its refusals, the signature guard, sticky kernel faults) on a stand-in library of three
 * trivial kernels (src/test/emu-standin), compiled here with g++.
 */
class EmulatedRuntimeTest {
    static EmuLibrary standIn;
    EmulatedRuntime rt;
    KernelLauncher k;
    DeviceStream a, b;

    @BeforeAll static void build() throws Exception {
        Path dir = Files.createTempDirectory("emu-standin");
        Path so = dir.resolve("libstandin.so");
        Process p = new ProcessBuilder("g++", "-O1", "-shared", "-fPIC", "-o", so.toString(),
                Path.of("src/test/emu-standin/standin.cpp").toAbsolutePath().toString()).inheritIO().start();
        assertEquals(0, p.waitFor(), "g++ failed on the stand-in library");
        standIn = EmuLibrary.load(so);
    }

    @BeforeEach void open() {
        rt = new EmulatedRuntime(standIn);
        k = rt.launcher();
        a = rt.createStream();
        b = rt.createStream();
    }

    @AfterEach void close() {
        try {
            rt.close();
        } catch (CudaException ignored) {
            // the sticky-fault test leaves the device failed on purpose
        }
    }

    /**
     * The emulated device's cuOccupancyMaxActiveClusters: its MULTIPROCESSORS hold one block each, so
     * MULTIPROCESSORS / clusterSize clusters of a block emu_launch takes and none of one it refuses
     * (over 1024 threads or 227 KB of shared memory); each question is counted.
     */
    @Test void clusterOccupancyModel() {
        assertEquals(4, EmulatedRuntime.MULTIPROCESSORS);
        assertEquals(2, rt.maxActiveClusters("k", 2, 384, 197_696));
        assertEquals(4, rt.maxActiveClusters("k", 1, 1024, 0));
        assertEquals(1, rt.maxActiveClusters("k", 4, 128, 227 * 1024));
        assertEquals(0, rt.maxActiveClusters("k", 2, 384, 227 * 1024 + 1));
        assertEquals(0, rt.maxActiveClusters("k", 2, 1025, 0));
        assertEquals(5, rt.clusterQueries());
        String m = assertThrows(IllegalArgumentException.class, () -> rt.maxActiveClusters("k", 9, 32, 0)).getMessage();
        assertTrue(m.contains("cluster size 9"), m);
    }

    static MemorySegment peek(long address, int floats) {
        return MemorySegment.ofAddress(address).reinterpret(floats * 4L);
    }

    float[] download(long address, int n, DeviceStream s) {
        MemorySegment host = rt.allocateHost(n * 4L);
        rt.copyToHost(host, address, n * 4L, s);
        s.synchronize();
        float[] out = host.toArray(ValueLayout.JAVA_FLOAT);
        rt.freeHost(host);
        return out;
    }

    void upload(long address, float[] data, DeviceStream s) {
        MemorySegment host = rt.allocateHost(data.length * 4L);
        MemorySegment.copy(MemorySegment.ofArray(data), 0, host, 0, data.length * 4L);
        rt.copyToDevice(address, host, data.length * 4L, s);
        s.synchronize();
        rt.freeHost(host);
    }

    @Test void freshAllocationsHoldNaN() {
        long x = rt.allocate(1000 * 4);
        for (float f : download(x, 1000, a)) assertTrue(Float.isNaN(f), "fresh device memory is not NaN");
    }

    @Test void streamsRunOnlyWhenWaitedFor() {
        long x = rt.allocate(100 * 4);
        k.launch("fill_f32", 2, 1, 1, 32, 1, 1, 0, a, x, 1.5f, 100L);
        assertTrue(Float.isNaN(peek(x, 100).getAtIndex(ValueLayout.JAVA_FLOAT, 99)), "the launch ran before anyone waited");
        a.synchronize();
        assertEquals(1.5f, peek(x, 100).getAtIndex(ValueLayout.JAVA_FLOAT, 99));
    }

    @Test void streamsAreUnorderedUnlessAnEventOrdersThem() {
        long x = rt.allocate(64 * 4), y = rt.allocate(64 * 4);
        rt.fill32(y, 0, 64, b);
        k.launch("fill_f32", 1, 1, 1, 64, 1, 1, 0, a, x, 2f, 64L);
        k.launch("axpy_f32", 1, 1, 1, 1, 1, 1, 0, b, y, x, 1f, 64);
        assertTrue(Float.isNaN(download(y, 64, b)[0]), "stream b saw stream a's work without an event");
        a.synchronize();
        DeviceEvent done = rt.createEvent();
        rt.fill32(y, 0, 64, b);
        k.launch("fill_f32", 1, 1, 1, 64, 1, 1, 0, a, x, 3f, 64L);
        done.record(a);
        b.waitFor(done);
        k.launch("axpy_f32", 1, 1, 1, 1, 1, 1, 0, b, y, x, 2f, 64);
        float[] want = new float[64];
        Arrays.fill(want, 6f);
        assertArrayEquals(want, download(y, 64, b));
    }

    @Test void captureReplaysTheRecordedWork() {
        long x = rt.allocate(16 * 4), y = rt.allocate(16 * 4);
        float[] xs = new float[16];
        for (int i = 0; i < 16; i++) xs[i] = i;
        upload(x, xs, a);
        rt.fill32(y, 0, 16, a);
        a.beginCapture();
        k.launch("axpy_f32", 1, 1, 1, 1, 1, 1, 0, a, y, x, 0.5f, 16);
        assertTrue(a.capturing());
        DeviceGraph g = a.endCapture();
        assertEquals(0f, download(y, 16, a)[3], "capture ran the work instead of recording it");
        g.launch(a);
        g.launch(a);
        float[] got = download(y, 16, a);
        for (int i = 0; i < 16; i++) assertEquals(i * 1f, got[i], "two replays of y += 0.5 x");
    }

    @Test void captureRefusesWhatCudaRefuses() {
        a.beginCapture();
        CudaException sync = assertThrows(CudaException.class, a::synchronize);
        assertEquals(900, sync.code(), sync.getMessage());
        assertTrue(sync.getMessage().contains("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"), sync.getMessage());
        CudaException end = assertThrows(CudaException.class, a::endCapture);
        assertEquals(901, end.code(), end.getMessage());
        a.beginCapture();
        assertEquals(900, assertThrows(CudaException.class, () -> rt.allocate(64)).code());
        assertEquals(901, assertThrows(CudaException.class, a::endCapture).code());
        long x = rt.allocate(64);
        a.beginCapture();
        assertEquals(900, assertThrows(CudaException.class, () -> rt.free(x)).code());
        assertEquals(901, assertThrows(CudaException.class, a::endCapture).code());
        DeviceEvent outside = rt.createEvent();
        outside.record(b);
        a.beginCapture();
        assertEquals(905, assertThrows(CudaException.class, () -> a.waitFor(outside)).code());
        assertEquals(901, assertThrows(CudaException.class, a::endCapture).code());
    }

    /**
     * An event recorded in a capture is recorded by each replay, where the graph runs: waiting for
     * it after the second replay waits for that replay (a marker shared by all replays would be
     * reached already), and waiting before any replay, or for a replay on another stream, ends.
     * On a runtime of its own: a hang would hold the runtime's lock.
     */
    @Test void anEventRecordedInACaptureIsRecordedByEachReplay() {
        EmulatedRuntime own = new EmulatedRuntime(standIn);
        DeviceStream s = own.createStream(), t = own.createStream();
        long x = own.allocate(16 * 4), y = own.allocate(16 * 4);
        own.launcher().launch("fill_f32", 1, 1, 1, 16, 1, 1, 0, s, x, 1f, 16L);
        own.fill32(y, 0, 16, s);
        s.synchronize();
        DeviceEvent done = own.createEvent();
        s.beginCapture();
        own.launcher().launch("axpy_f32", 1, 1, 1, 1, 1, 1, 0, s, y, x, 1f, 16);
        done.record(s);
        DeviceGraph g = s.endCapture();
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            done.synchronize();   // no replay yet: nothing to wait for
            assertEquals(0f, peek(y, 16).getAtIndex(ValueLayout.JAVA_FLOAT, 0), "the capture ran");
            g.launch(t);
            done.synchronize();
            assertEquals(1f, peek(y, 16).getAtIndex(ValueLayout.JAVA_FLOAT, 0), "first replay, on another stream");
            g.launch(t);
            done.synchronize();
            assertEquals(2f, peek(y, 16).getAtIndex(ValueLayout.JAVA_FLOAT, 0), "the event did not wait for the second replay");
        });
        own.close();
        assertEquals(0, own.bytesAllocated());
    }

    @Test void launchesAreCheckedAgainstTheKernelsSignature() {
        long x = rt.allocate(64);
        CudaException count = assertThrows(CudaException.class, () -> k.launch("fill_f32", 1, 1, 1, 1, 1, 1, 0, a, x, 1f));
        assertTrue(count.getMessage().contains("fill_f32 takes 3 arguments"), count.getMessage());
        CudaException size = assertThrows(CudaException.class, () -> k.launch("axpy_f32", 1, 1, 1, 1, 1, 1, 0, a, x, x, 1f, 16L));
        assertTrue(size.getMessage().contains("axpy_f32 argument 3 is 8 bytes, the kernel takes 4"), size.getMessage());
        assertEquals(500, assertThrows(CudaException.class, () -> k.launch("no_such", 1, 1, 1, 1, 1, 1, 0, a)).code());
    }

    @Test void copiesMustStayInsideAnAllocation() {
        long x = rt.allocate(64);
        assertEquals(1, assertThrows(CudaException.class, () -> rt.fill32(x + 4, 0, 16, a)).code());
        assertEquals(1, assertThrows(CudaException.class, () -> rt.copy(x, x + 64, 4, a)).code());
    }

    @Test void freeWaitsForQueuedWork() {
        long x = rt.allocate(1 << 20);
        k.launch("fill_f32", 4, 1, 1, 256, 1, 1, 0, a, x, 1f, 1L << 18);
        rt.free(x);   // the queued fill ran first: no write into freed memory
        assertEquals(0, rt.bytesAllocated());
    }

    @Test void aKernelFailureIsReportedAtTheWaitAndSticks() {
        k.launch("trap", 1, 1, 1, 32, 1, 1, 0, a);
        CudaException e = assertThrows(CudaException.class, a::synchronize);
        assertTrue(e.getMessage().contains("kernel trap") && e.getMessage().contains("barrier deadlock"), e.getMessage());
        CudaException later = assertThrows(CudaException.class, () -> rt.allocate(64));
        assertTrue(later.getMessage().contains("unusable after an earlier kernel failure"), later.getMessage());
    }

    /** The library the build made loads into the JVM (dlopen) and knows the kernels the Java side launches. */
    @Test void theBundledLibraryLoads() {
        org.junit.jupiter.api.Assumptions.assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        EmuLibrary lib = EmuLibrary.bundled();
        for (String kernel : new String[] {"gemm_f32", "attn_fwd", "adamw_scalars", "adamw_multi"})
            assertTrue(lib.signature(kernel) != null, kernel + " missing from " + lib.kernels());
    }

    @Test void aMissingLibraryNamesTheFix() {
        CudaException e = assertThrows(CudaException.class, () -> EmuLibrary.load(Path.of("/nonexistent/libvit22b_emu.so")));
        assertTrue(e.getMessage().contains("rebuild"), e.getMessage());
    }
}
