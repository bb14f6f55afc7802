package vit22b.kernels;

/**
 * Launches our kernels by name: the one call {@link Kernels}' wrappers make, so the same wrappers
 * drive a GPU through JCuda ({@link KernelModule}), the emulated device
 * ({@link vit22b.kernels.emu.EmulatedRuntime}) or a recording launcher ({@link LaunchTable}).
 */
public interface KernelLauncher {
    /**
     * Queues kernel {@code name} on {@code stream}. Arguments are Long (device address or 64-bit
     * integer), Integer, Float or byte[] (a by-value struct such as a CUtensorMap, its bytes as
     * given) in the kernel's parameter order; null is a null pointer. A grid
     * with an empty dimension launches nothing.
     */
    void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                DeviceStream stream, Object... args);

    /** The bytes of one kernel argument as cuLaunchKernel and emu_launch take them. */
    static byte[] argumentBytes(String kernel, int index, Object arg) {
        if (arg instanceof byte[] struct) {
            if (struct.length == 0)
                throw new IllegalArgumentException("kernel " + kernel + ": argument " + index + " is an empty byte[]; "
                        + "a by-value struct argument needs its bytes");
            return struct.clone();
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.nativeOrder());
        switch (arg) {
            case Long l -> b.putLong(l);
            case Integer n -> b.putInt(n);
            case Float x -> b.putFloat(x);
            case null -> b.putLong(0L);
            default -> throw new IllegalArgumentException("kernel " + kernel + ": argument " + index
                    + " has unsupported type " + arg.getClass().getSimpleName() + "; pass Long, Integer, Float or byte[]");
        }
        return java.util.Arrays.copyOf(b.array(), b.position());
    }
}
