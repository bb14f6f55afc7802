package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

import vit22b.kernels.CudaException;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.kernels.emu.EmulatedRuntime;
import vit22b.tensor.Tensor;

/** What a backend takes it gives back, on the emulated device (which counts its memory): failed opens, close, live tensors. */
class CudaBackendLifecycleTest {
    static EmulatedRuntime device() {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        return new EmulatedRuntime(EmuLibrary.bundled());
    }

    /** Without libcublasLt (CI) or on the emulator (a GPU host) the cuBLASLt path cannot open: a clear error, nothing kept. */
    @Test void aFailedOpenReleasesEverythingItTook() {
        EmulatedRuntime d = device();
        CudaException e = assertThrows(CudaException.class, () -> new CudaBackend(d, CudaBackend.GemmPath.CUBLASLT));
        assertTrue(e.getMessage().contains("libcublasLt") || e.getMessage().contains("runs only on a GPU"), e.getMessage());
        assertEquals(0, d.bytesAllocated(), "device memory kept after a failed open");
        assertThrows(IllegalStateException.class, d::createStream, "the device was not closed after a failed open");
    }

    @Test void closeFreesEverythingAndLiveTensorsRefuseUse() {
        EmulatedRuntime d = device();
        CudaBackend be = new CudaBackend(d, CudaBackend.GemmPath.KERNELS);
        Tensor t = be.allocate(1000);
        be.upload(t, new float[1000]);
        assertTrue(d.bytesAllocated() > 0);
        be.close();
        assertEquals(0, d.bytesAllocated(), "close left device memory allocated");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaBackend.a(t));
        assertTrue(e.getMessage().contains("after its CUDA backend was closed"), e.getMessage());
        be.close();   // idempotent
    }

    /** Backends sharing one device (a mesh's ranks): closing one frees its memory and leaves the device to the others. */
    @Test void aSharingBackendLeavesTheDeviceOpen() {
        EmulatedRuntime d = device();
        CudaBackend a = CudaBackend.sharing(d), b = CudaBackend.sharing(d);
        float[] x = vit22b.testing.Check.randn(7, 100, 1.0);
        Tensor ta = a.allocate(100);
        a.upload(ta, x);
        a.close();
        Tensor tb = b.allocate(100);
        b.upload(tb, x);
        org.junit.jupiter.api.Assertions.assertArrayEquals(x, b.download(tb), "the other backend's device still works");
        b.close();
        assertEquals(0, d.bytesAllocated(), "the sharing backends left device memory allocated");
        d.createStream().close();   // still open: its owner closes it
        d.close();
    }

    /**
     * onStream: work goes to the given stream until the scope closes, then to the backend's own
     * again; on the emulator a download on one stream of work queued on the other, with no event
     * between them, reads the memory before that work (fresh device memory is NaN).
     */
    @Test void onStreamQueuesOnTheGivenStreamUntilClosed() {
        EmulatedRuntime d = device();
        try (CudaBackend be = new CudaBackend(d, CudaBackend.GemmPath.KERNELS)) {
            var other = d.createStream();
            Tensor t = be.allocate(4);
            be.upload(t, new float[]{1, 2, 3, 4});
            be.synchronize();
            try (CudaBackend.StreamScope ignored = be.onStream(other)) {
                assertTrue(be.stream() == other);
                be.scale(t, 2f);   // queued on the other stream, not run yet
            }
            assertTrue(be.stream() != other);
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[]{1, 2, 3, 4}, be.download(t),
                    "the own stream's download ran before the other stream's unordered work");
            var done = d.createEvent();
            done.record(other);
            be.stream().waitFor(done);
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[]{2, 4, 6, 8}, be.download(t), "after the event wait");
            other.close();
        }
    }
}
