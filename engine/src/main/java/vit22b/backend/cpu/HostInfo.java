package vit22b.backend.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Facts about the machine a CPU measurement ran on, recorded next to its figures. */
public record HostInfo(int cores, String cpuModel, String os, String javaVersion, String javaVm,
                       int openblasThreads, String openblasConfig) {

    public static HostInfo current() {
        return new HostInfo(Runtime.getRuntime().availableProcessors(), readCpuModel(),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"),
                Runtime.version().toString(), System.getProperty("java.vm.name") + " (" + System.getProperty("java.vendor") + ")",
                SgemmRate.threads(), SgemmRate.config());
    }

    /** The first "model name" of /proc/cpuinfo, or "unknown" where there is none. */
    static String readCpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        return "unknown";
    }
}
