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
}
