package vit22b.kernels.emu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import vit22b.kernels.CudaException;

/**
 * libvit22b_emu.so (kernels/build-emu.sh: our .cu sources compiled for the host, each CUDA
 * thread a fiber) bound through java.lang.foreign; the C ABI is in EMU_ABI terms
 * {@code emu_launch} plus the kernel table {@code emu_kernel_*}. The bundled library is a
 * classpath resource, extracted once per JVM to a temporary file.
 */
public final class EmuLibrary {
    public static final String RESOURCE = "/vit22b/kernels/emu/libvit22b_emu.so";
    private static final int ERR_BYTES = 1024;

    private final Path path;
    private final MethodHandle launch, setSchedule, setWorkers, encodeTensorMap;
    /** Kernel name to its parameters' sizes in bytes, from the library's own table. */
    private final Map<String, long[]> signatures = new HashMap<>();

    private static EmuLibrary bundled;

    /** The library built into the classpath; a clear error naming the fix when the build had no g++. */
    public static synchronized EmuLibrary bundled() {
        if (bundled == null) bundled = load(extract());
        return bundled;
    }

    /** Whether the build put the library on the classpath. */
    public static boolean built() { return EmuLibrary.class.getResource(RESOURCE) != null; }

    private static Path extract() {
        try (InputStream in = EmuLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null)
                throw new CudaException("the emulated CUDA device is not built (no " + RESOURCE + " on the classpath): "
                        + "install g++ (apt-get install g++) and rebuild (mvn -pl kernels package; ./vit rebuilds)");
            Path tmp = Files.createTempFile("libvit22b_emu", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        } catch (IOException e) {
            throw new CudaException("cannot extract " + RESOURCE + " to a temporary file: " + e.getMessage()
                    + "; check that java.io.tmpdir is writable");
        }
    }

    /** Loads a library that implements the emulator ABI (tests load stand-ins this way). */
    public static EmuLibrary load(Path so) {
        return new EmuLibrary(so);
    }

    private EmuLibrary(Path so) {
        this.path = so;
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(so, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new CudaException("cannot load the emulated CUDA device " + so + ": " + e.getMessage()
                    + "; rebuild it (mvn -pl kernels package)");
        }
        Linker linker = Linker.nativeLinker();
        launch = linker.downcallHandle(find(lib, "emu_launch"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        setSchedule = linker.downcallHandle(find(lib, "emu_set_schedule"), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        setWorkers = linker.downcallHandle(find(lib, "emu_set_workers"), FunctionDescriptor.ofVoid(JAVA_INT));
        // Optional: EmulatedRuntimeTest's stand-in library has no tensor maps (encodeTensorMap says so when called).
        encodeTensorMap = lib.find("emu_encode_tensor_map").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(JAVA_INT,
                JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG)))
                .orElse(null);
        MethodHandle count = linker.downcallHandle(find(lib, "emu_kernel_count"), FunctionDescriptor.of(JAVA_INT));
        MethodHandle name = linker.downcallHandle(find(lib, "emu_kernel_name"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        MethodHandle params = linker.downcallHandle(find(lib, "emu_kernel_param_count"), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        MethodHandle size = linker.downcallHandle(find(lib, "emu_kernel_param_size"),
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT));
        try {
            int n = (int) count.invokeExact();
            for (int i = 0; i < n; i++) {
                String k = ((MemorySegment) name.invokeExact(i)).reinterpret(256).getString(0);
                long[] sizes = new long[(int) params.invokeExact(i)];
                for (int p = 0; p < sizes.length; p++) sizes[p] = (long) size.invokeExact(i, p);
                signatures.put(k, sizes);
            }
        } catch (Throwable t) {
            throw new CudaException("cannot read the kernel table of " + so + ": " + t);
        }
    }

    private static MemorySegment find(SymbolLookup lib, String symbol) {
        return lib.find(symbol).orElseThrow(() -> new CudaException("the emulated CUDA device library lacks " + symbol
                + " (an old or foreign build); rebuild it (mvn -pl kernels package)"));
    }

    public Path path() { return path; }

    /** The kernels the library knows, sorted. */
    public List<String> kernels() { return signatures.keySet().stream().sorted().toList(); }

    /** Each parameter's size in bytes, or null for an unknown kernel. */
    public long[] signature(String kernel) {
        long[] s = signatures.get(kernel);
        return s == null ? null : s.clone();
    }

    /** 0 in order, 1 reversed, 2 one warp far ahead. */
    public void schedule(int schedule) {
        try {
            if ((int) setSchedule.invokeExact(schedule) != 0)
                throw new IllegalArgumentException("unknown emulator schedule " + schedule + "; use 0 (in order), 1 (reversed) or 2 (one warp ahead)");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** OS threads that run blocks in parallel. */
    public void workers(int n) {
        try {
            setWorkers.invokeExact(n);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * The 128 bytes of a 2D tile-mode tensor map in the emulator's encoding (hopper.cpp: the
     * driver's checks for cuTensorMapEncodeTiled, then address, dimensions, stride, element size,
     * box and swizzle; swizzle is CUtensorMapSwizzle's value: 0 none, 1 32B, 2 64B, 3 128B).
     * Returns null and puts the library's one-line reason in {@code why[0]} when the driver would refuse.
     */
    byte[] encodeTensorMap(long address, long rows, long cols, long rowStrideBytes, int elementBytes, int boxRows,
                           int boxCols, int swizzle, String[] why) {
        if (encodeTensorMap == null)
            throw new CudaException("the emulated CUDA device library " + path + " lacks emu_encode_tensor_map (no TMA in "
                    + "this build); rebuild it (mvn -pl kernels package)");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(128, 64);
            MemorySegment err = a.allocate(ERR_BYTES);
            int rc = (int) encodeTensorMap.invokeExact(address, rows, cols, rowStrideBytes, elementBytes, boxRows, boxCols,
                    swizzle, out, err, (long) ERR_BYTES);
            if (rc != 0) {
                why[0] = err.getString(0);
                return null;
            }
            return out.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
    }

    /**
     * Runs one kernel to completion; args are the parameters' bytes. Returns null on success,
     * else the library's one-line reason.
     */
    String run(String kernel, int[] grid, int[] block, int sharedBytes, byte[][] args) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = a.allocate(ADDRESS, Math.max(1, args.length));
            MemorySegment sizes = a.allocate(JAVA_LONG, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                MemorySegment arg = a.allocate(Math.max(8, args[i].length), 8);   // 128 for a CUtensorMap
                MemorySegment.copy(MemorySegment.ofArray(args[i]), 0, arg, 0, args[i].length);
                params.setAtIndex(ADDRESS, i, arg);
                sizes.setAtIndex(JAVA_LONG, i, args[i].length);
            }
            MemorySegment err = a.allocate(ERR_BYTES);
            int rc = (int) launch.invokeExact(a.allocateFrom(kernel), a.allocateFrom(JAVA_INT, grid),
                    a.allocateFrom(JAVA_INT, block), sharedBytes, params, sizes, args.length, err, (long) ERR_BYTES);
            return rc == 0 ? null : err.getString(0);
        } catch (Throwable t) {
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
    }
}
