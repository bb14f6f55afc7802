package vit22b.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Driver API entry points that JCuda 12.6 does not bind (cuTensorMapEncodeTiled,
 * cuOccupancyMaxActiveClusters), called through java.lang.foreign on libcuda.so.1: the one place
 * that opens the library and names what to install when a symbol is missing.
 */
final class LibCuda {
    private LibCuda() {}

    private static SymbolLookup lib;

    private static synchronized SymbolLookup lib(String symbol) {
        if (lib == null) {
            try {
                lib = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
            } catch (IllegalArgumentException e) {
                throw new CudaException("cannot open libcuda.so.1 for " + symbol + ": " + e.getMessage() + "; install the NVIDIA driver");
            }
        }
        return lib;
    }

    /** A downcall handle for {@code symbol}; {@code needs} says which driver has it (for the error). */
    static MethodHandle downcall(String symbol, FunctionDescriptor descriptor, String needs) {
        MemorySegment f = lib(symbol).find(symbol).orElseThrow(() -> new CudaException(
                "libcuda.so.1 has no " + symbol + "; it needs " + needs));
        return Linker.nativeLinker().downcallHandle(f, descriptor);
    }
}
