package vit22b.cli.options;

import java.io.PrintWriter;

import picocli.CommandLine.Option;
import vit22b.backend.Backend;
import vit22b.backend.Backends;
import vit22b.backend.Precision;

/** {@code --backend}: where a computing command runs. */
public final class BackendOption {
    @Option(names = "--backend", defaultValue = "cpu", paramLabel = "NAME",
            description = "cpu (OpenBLAS + the Java Vector API), cuda (our kernels on GPU 0), cuda-emu (the same kernels on the "
                    + "emulated device, slow: for checking without a GPU) or cuda-emu-hopper (the emulated device as a Hopper: "
                    + "the sm_90a kernels an H100/H200 takes, wgmma and TMA).")
    public String backend;

    /** Opens the backend in fp32; the line saying which one runs goes to {@code log}. */
    public Backend open(PrintWriter log) { return open(Precision.FP32, log); }

    /** Opens the backend in {@code precision}; the lines saying which backend and precision go to {@code log}. */
    public Backend open(Precision precision, PrintWriter log) {
        if (backend.equalsIgnoreCase("cpu")) VectorModule.require();
        return Backends.open(backend, precision, Streams.printStream(log));
    }
}
