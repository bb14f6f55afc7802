package vit22b.cli.commands;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import vit22b.cli.Main;
import vit22b.io.SafeTensors;
import vit22b.io.SafeTensorsFile;
import vit22b.train.MetricsWriter;

/** `vit` in a child JVM (so that it can be signalled and killed), and the small IDX dataset it trains on. */
final class TrainProcess {
    private TrainProcess() {}

    /** Starts {@code vit args...}; stdout and stderr go to {@code log}. */
    static Process start(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /** Runs {@code vit args...} to its end; returns the exit code. */
    static int run(Path log, String... args) throws IOException, InterruptedException {
        return start(log, args).waitFor();
    }

    /** An IDX dataset of random 12x12 digits-like images in {@code dir}: {@code train} and {@code test} of them. */
    static Path idx(Path dir, int train, int test, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        Files.createDirectories(dir);
        write(dir, "train", train, r);
        write(dir, "t10k", test, r);
        return dir;
    }

    private static void write(Path dir, String prefix, int n, SplittableRandom r) throws IOException {
        byte[] labels = new byte[n], pixels = new byte[n * 144];
        for (int i = 0; i < n; i++) {
            labels[i] = (byte) r.nextInt(10);
            for (int p = 0; p < 144; p++) pixels[i * 144 + p] = (byte) (r.nextInt(64) + (p % 12 == labels[i] ? 180 : 0));
        }
        try (var o = new DataOutputStream(Files.newOutputStream(dir.resolve(prefix + "-images-idx3-ubyte")))) {
            o.writeInt(0x803); o.writeInt(n); o.writeInt(12); o.writeInt(12); o.write(pixels);
        }
        try (OutputStream f = Files.newOutputStream(dir.resolve(prefix + "-labels-idx1-ubyte")); var o = new DataOutputStream(f)) {
            o.writeInt(0x801); o.writeInt(n); o.write(labels);
        }
    }

    /** Every tensor of a safetensors file as raw float bits, for bit-for-bit comparison. */
    static Map<String, List<Integer>> bits(Path file) throws IOException {
        Map<String, List<Integer>> out = new java.util.TreeMap<>();
        try (SafeTensorsFile f = SafeTensors.open(file)) {
            for (String name : f.names()) {
                List<Integer> b = new ArrayList<>();
                for (float x : f.floats(name)) b.add(Float.floatToRawIntBits(x));
                out.put(name, b);
            }
        }
        return out;
    }

    /** The steps of the training rows of a metrics file, in file order. */
    static List<Long> trainingSteps(Path metrics) throws IOException {
        List<Long> out = new ArrayList<>();
        for (Map<String, Object> row : MetricsWriter.read(metrics))
            if (row.containsKey("loss")) out.add(((Number) row.get("step")).longValue());
        return out;
    }
}
