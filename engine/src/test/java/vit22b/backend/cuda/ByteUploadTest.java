package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.io.DType;
import vit22b.tensor.Bf16;
import vit22b.tensor.Tensor;

/**
 * {@link Backend#upload(Tensor, MemorySegment, DType)}, the byte upload from a file's
 * little-endian bytes, bit for bit against the float upload it replaces (the file's values widened
 * to float32 on the host, then {@link Backend#upload(Tensor, float[])}) and against {@link Bf16}:
 * F32 and BF16 sources into F32 and BF16 tensors, on the cpu, its bf16 reference, and the CUDA
 * backend (the emulated device; GPU 0 too when present) with chunks of a few hundred bytes so
 * that chunk edges, the two staging buffers' turns and a short last chunk are all crossed.
 * Fresh random bit patterns (seed printed) with the special values (NaN payloads, +-Inf,
 * overflow, ties, subnormals), into a view at an odd offset.
 */
class ByteUploadTest {
    private static final int N = 2501;

    /** {@code x} as a file would store it in {@code type} (BF16: each value rounded once), little-endian. */
    private static MemorySegment fileBytes(Arena arena, float[] x, DType type) {
        MemorySegment s = arena.allocate((long) x.length * type.size);
        for (int i = 0; i < x.length; i++)
            if (type == DType.F32) s.setAtIndex((java.lang.foreign.ValueLayout.OfFloat) type.fileLayout(), i, x[i]);
            else s.setAtIndex((java.lang.foreign.ValueLayout.OfShort) type.fileLayout(), i, Bf16.fromFloat(x[i]));
        return s;
    }

    /** What the file's values are as float32 (BF16 widened exactly): what the float upload was handed. */
    private static float[] widened(MemorySegment file, DType type) {
        float[] out = new float[(int) (file.byteSize() / type.size)];
        for (int i = 0; i < out.length; i++)
            out[i] = type == DType.F32 ? file.getAtIndex((java.lang.foreign.ValueLayout.OfFloat) type.fileLayout(), i)
                    : Bf16.toFloat(file.getAtIndex((java.lang.foreign.ValueLayout.OfShort) type.fileLayout(), i));
        return out;
    }

    private static List<Backend> backends(Precision precision) {
        List<Backend> out = new ArrayList<>();
        out.add(precision == Precision.BF16 ? new Bf16Rounding(new CpuBackend()) : new CpuBackend());
        for (CudaBackend be : Gpu.devicesOrSkip(precision)) {
            be.uploadChunkBytes(4 * 97);   // 97 floats or 194 bf16 values a chunk: many chunks, a short last one
            out.add(be);
        }
        return out;
    }

    private static void assertBits(float want, float got, String what) {
        if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got))
            assertEquals(String.format("0x%08x", Float.floatToRawIntBits(want)), String.format("0x%08x", Float.floatToRawIntBits(got)), what);
    }

    @ParameterizedTest
    @CsvSource({"F32, F32", "F32, BF16", "BF16, F32", "BF16, BF16"})
    void equalsTheFloatUploadBitForBit(DType file, DType tensor) {
        float[] x = CudaCastTest.randomBits("ByteUploadTest " + file + " -> " + tensor, N);   // prints its seed
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = fileBytes(arena, x, file);
            float[] values = widened(bytes, file);
            for (Backend be : backends(tensor == DType.BF16 ? Precision.BF16 : Precision.FP32)) {
                try (be) {
                    Tensor whole = be.allocate(tensor, N + 3), viaBytes = whole.view(3, N);
                    Tensor viaFloats = be.allocate(tensor, N);
                    be.upload(viaBytes, bytes, file);
                    be.upload(viaFloats, values);
                    float[] got = be.download(viaBytes), want = be.download(viaFloats);
                    String where = be.name() + (be instanceof Bf16Rounding ? " (bf16 reference)" : "") + " " + file + " -> " + tensor;
                    for (int i = 0; i < N; i++) {
                        assertBits(want[i], got[i], where + " element " + i + " (value " + values[i] + ")");
                        // and against the definition: one rounding by Bf16.fromFloat where either side is bf16
                        boolean bf16 = file == DType.BF16 || tensor == DType.BF16 || be instanceof Bf16Rounding;
                        if (!Float.isNaN(values[i])) assertBits(bf16 ? Bf16.round(values[i]) : values[i], got[i], where + " element " + i);
                        else assertEquals(true, Float.isNaN(got[i]), where + " NaN stays NaN at " + i);
                    }
                    assertEquals(0f, be.download(whole.view(0, 3))[0], "the bytes before the view are untouched");
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"F16", "F64"})
    void otherFileTypesAreRefusedWithTheFix(DType file) {
        try (CpuBackend be = new CpuBackend(); Arena arena = Arena.ofConfined()) {
            Tensor t = be.allocate(8);
            var e = assertThrows(IllegalArgumentException.class, () -> be.upload(t, arena.allocate(8L * file.size), file));
            System.out.println(e.getMessage());
            assertEquals(true, e.getMessage().contains("convert " + file + " to float32"));
            var size = assertThrows(IllegalArgumentException.class, () -> be.upload(t, arena.allocate(7 * 4), DType.F32));
            assertEquals(true, size.getMessage().contains("28 bytes"), size.getMessage());
        }
    }
}
