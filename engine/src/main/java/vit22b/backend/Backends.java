package vit22b.backend;

import java.io.PrintStream;
import java.util.Locale;

import vit22b.backend.cpu.CpuBackend;
import vit22b.backend.cuda.CudaBackend;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.JCudaRuntime;
import vit22b.kernels.emu.EmulatedRuntime;

/** Opens a backend by name and says which one runs, so no choice is silent. */
public final class Backends {
    private Backends() {}

    /** The emulated device's backend names: as an sm_80-class GPU, and as a Hopper (taking the sm_90a kernels). */
    public static final String EMULATED = "cuda-emu", EMULATED_HOPPER = "cuda-emu-hopper";
    /** Every backend name, as the CLI lists them. */
    public static final String NAMES = "cpu, cuda, " + EMULATED + " or " + EMULATED_HOPPER;

    /** Whether {@code name} is one of the emulated device's backends (slow: timings are the emulator's). */
    public static boolean emulated(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.equals(EMULATED) || n.equals(EMULATED_HOPPER);
    }

    /**
     * "cpu", "cuda" (GPU 0, our kernels), "cuda-emu" (the same kernels and backend code on the
     * emulated device: slow, for checking without a GPU) or "cuda-emu-hopper" (the emulated device
     * as a Hopper, so the backend takes the sm_90a kernels an H100/H200 takes), fp32; the choice is
     * logged to {@code log}.
     */
    public static Backend open(String name, PrintStream log) { return open(name, Precision.FP32, log); }

    /**
     * {@link #open(String, PrintStream)} in {@code precision}. bf16 on cpu is the rounding reference
     * ({@link Bf16Rounding}: float32 storage rounded where the GPU rounds); on cuda and cuda-emu it is
     * bf16 storage and our bf16 kernels. Both choices are logged.
     */
    public static Backend open(String name, Precision precision, PrintStream log) {
        Backend b = switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> new CudaBackend(0, CudaBackend.GemmPath.KERNELS, precision);
            case EMULATED -> CudaBackend.emulated(precision, false);
            case EMULATED_HOPPER -> CudaBackend.emulated(precision, true);
            default -> throw new IllegalArgumentException("unknown backend '" + name + "'; use " + NAMES);
        };
        log.println("backend: " + b.name() + switch (b) {
            case CudaBackend c -> " (our CUDA kernels on " + c.device().description()
                    + (emulated(b.name()) ? "; every CUDA thread emulated on the CPU: slow)" : ")");
            default -> " (OpenBLAS sgemm + Java Vector API, " + Runtime.getRuntime().availableProcessors() + " cores)";
        });
        if (precision == Precision.FP32) return b;
        if (b instanceof CpuBackend) {
            log.println("precision: bf16 reference (float32 storage rounded to bf16 wherever the GPU path stores bf16; "
                    + "fp32 masters, moments, parameter gradients and accumulation)");
            return new Bf16Rounding(b);
        }
        log.println("precision: bf16 (bf16 activations and compute weights in 2-byte storage, tensor-core GEMMs and "
                + "attention; fp32 masters, moments, parameter gradients, statistics and accumulation)");
        if (b instanceof CudaBackend c) log.println("bf16 GEMMs: " + c.bf16GemmKernels());
        return b;
    }

    /**
     * The device under a CUDA backend name, for callers that put several backends on one device
     * (a mesh's ranks on one GPU): "cuda" is GPU 0, "cuda-emu" the emulated device, "cuda-emu-hopper"
     * the emulated device as a Hopper.
     */
    public static DeviceRuntime device(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "cuda" -> new JCudaRuntime(0);
            case EMULATED -> EmulatedRuntime.open(false);
            case EMULATED_HOPPER -> EmulatedRuntime.open(true);
            default -> throw new IllegalArgumentException("backend '" + name + "' has no CUDA device; use cuda, " + EMULATED
                    + " or " + EMULATED_HOPPER + " (cpu runs on CPU devices)");
        };
    }
}
