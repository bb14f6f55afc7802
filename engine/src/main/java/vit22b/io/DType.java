package vit22b.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/** The safetensors element types this engine reads (all converted to float32 on load). */
public enum DType {
    F32(4), F16(2), BF16(2), F64(8);

    /**
     * A file's F32 and 16-bit elements (little-endian). Constants, for loops over a file's bytes:
     * the JIT compiles an access through a constant layout to a plain load, one through a layout
     * it cannot see as constant to a slow generic path (measured 3x slower on a whole load).
     */
    public static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort LE_16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble LE_F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Bytes per element. */
    public final int size;

    DType(int size) { this.size = size; }

    /** The type named {@code s} in a header, or null when this engine does not read it. */
    static DType parse(String s) {
        for (DType t : values()) if (t.name().equals(s)) return t;
        return null;
    }

    static String known() { return Arrays.toString(values()); }

    /** One element as a file stores it (little-endian): how a backend reads a file's bytes it is handed. */
    public ValueLayout fileLayout() {
        return switch (this) {
            case F32 -> LE_F32;
            case F16, BF16 -> LE_16;
            case F64 -> LE_F64;
        };
    }

    /**
     * Converts {@code count} little-endian elements of this type at {@code src} to float32
     * (native order) at {@code dst}.
     */
    void toFloats(MemorySegment src, MemorySegment dst, long count) {
        ValueLayout.OfFloat out = ValueLayout.JAVA_FLOAT_UNALIGNED;
        switch (this) {
            case F32 -> MemorySegment.copy(src, LE_F32, 0, dst, out, 0, count);
            case F16 -> {
                for (long i = 0; i < count; i++)
                    dst.setAtIndex(out, i, Float.float16ToFloat(src.getAtIndex(LE_16, i)));
            }
            case BF16 -> {
                // bfloat16 is the top half of a float32.
                for (long i = 0; i < count; i++)
                    dst.setAtIndex(out, i, Float.intBitsToFloat((src.getAtIndex(LE_16, i) & 0xffff) << 16));
            }
            case F64 -> {
                for (long i = 0; i < count; i++)
                    dst.setAtIndex(out, i, (float) src.getAtIndex(LE_F64, i));
            }
        }
    }
}
