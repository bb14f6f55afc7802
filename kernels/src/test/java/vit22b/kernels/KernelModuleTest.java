package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.junit.jupiter.api.Test;

/** Runs without a GPU: the build packaged a real fatbin whenever nvcc was there. */
class KernelModuleTest {

    private static boolean nvccOnPath() {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(":"))
            if (!dir.isEmpty() && java.nio.file.Files.isExecutable(java.nio.file.Path.of(dir, "nvcc"))) return true;
        return false;
    }

    @Test void fatbinIsBuiltWhenNvccExists() throws java.io.IOException {
        assumeTrue(nvccOnPath(), "nvcc not on PATH: the build skips the kernels");
        assertTrue(KernelModule.built(), "nvcc is on PATH but " + KernelModule.RESOURCE + " is not on the classpath");
        byte[] f = KernelModule.fatbin();
        int magic = ByteBuffer.wrap(f, 0, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        assertEquals(0xBA55ED50, magic, "not a CUDA fatbin (wrong magic number)");
        // every kernel the Java wrappers launch must be in the module (names are stored in the ELF images)
        String text = new String(f, java.nio.charset.StandardCharsets.ISO_8859_1);
        for (String k : KernelSignaturesTest.parseSignatures(java.nio.file.Path.of("src/main/cuda")).keySet())
            assertTrue(text.contains(k), "kernel " + k + " missing from the fatbin");
    }

    @Test void missingFatbinMessageSaysHowToFix() {
        assumeTrue(!KernelModule.built(), "the fatbin is built here");
        CudaException e = assertThrows(CudaException.class, KernelModule::fatbin);
        assertTrue(e.getMessage().contains("nvcc"), e.getMessage());
    }
}
