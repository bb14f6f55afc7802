package vit22b.backend;

import java.io.PrintStream;
import java.util.Locale;

import vit22b.backend.cpu.CpuBackend;
import vit22b.backend.cuda.CudaBackend;

/** Opens a backend by name and says which one runs, so no choice is silent. */
public final class Backends {
    private Backends() {}

    /** "cpu" or "cuda" (GPU 0, our kernels); the choice is logged to {@code log}. */
    public static Backend open(String name, PrintStream log) {
        Backend b = switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> new CudaBackend();
            default -> throw new IllegalArgumentException("unknown backend '" + name + "'; use cpu or cuda");
        };
        log.println("backend: " + b.name() + (b.name().equals("cpu")
                ? " (OpenBLAS sgemm + Java Vector API, " + Runtime.getRuntime().availableProcessors() + " cores)"
                : " (our CUDA kernels on GPU 0)"));
        return b;
    }
}
