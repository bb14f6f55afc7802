package vit22b.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import vit22b.backend.Backend;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.backend.cuda.CudaBackend;
import vit22b.model.ModelConfig;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Bf16;

/**
 * Times loading a BF16 model file into an inference model by the two routes (the file's bytes
 * handed to the backend, and the float32 route they replace), alternating, after one untimed
 * read that puts the file in the page cache. Not a test: run by hand,
 * {@code java -cp ... vit22b.io.StreamedLoadTiming MODEL BACKEND FILE REPEATS} with BACKEND cpu
 * (fp32 weights) or cuda-emu (bf16 weights); prints one JSON line per load.
 */
public final class StreamedLoadTiming {
    private StreamedLoadTiming() {}

    public static void main(String[] args) throws IOException {
        ModelConfig c = Presets.get(args[0]);
        String backend = args[1];
        Path file = Path.of(args[2]);
        int repeats = Integer.parseInt(args[3]);
        if (!Files.exists(file)) write(file, c, 20261130L);
        byte[] sink = new byte[1 << 20];
        try (var in = Files.newInputStream(file)) {   // page cache warm for both routes alike
            while (in.read(sink) > 0) { }
        }
        for (int r = 0; r < repeats; r++)
            for (StreamedWeights.Route route : StreamedWeights.Route.values()) {
                try (Backend be = backend.equals("cpu") ? new CpuBackend() : CudaBackend.emulated(Precision.BF16);
                     StreamedWeights.Source src = StreamedWeights.open(file, ModelFiles.Flags.NONE)) {
                    long t0 = System.nanoTime();
                    try (ViT m = src.load(be, null, StreamedWeights.PIECE_ELEMENTS, route)) {
                        double s = (System.nanoTime() - t0) / 1e9;
                        long params = new ParamLayout(c).total();
                        System.out.printf(Locale.ROOT, "{\"model\":\"%s\",\"backend\":\"%s\",\"weights\":\"%s\",\"file\":\"BF16\","
                                + "\"file_bytes\":%d,\"route\":\"%s\",\"repeat\":%d,\"seconds\":%.3f,\"gb_per_s\":%.3f}%n",
                                c.name(), backend, be.precision().compute(), Files.size(file), route, r, s, params * 2 / s / 1e9);
                    }
                }
            }
    }

    /** A BF16 file of {@code c} with random weights (uniform in [-0.05, 0.05], seed given). */
    private static void write(Path file, ModelConfig c, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (ParamLayout.Entry e : new ParamLayout(c).entries()) {
            short[] bits = new short[(int) e.size()];
            for (int i = 0; i < bits.length; i++) bits[i] = Bf16.fromFloat((float) (rnd.nextDouble() * 0.1 - 0.05));
            tensors.put(e.name(), TensorData.bf16(bits, e.shape()));
        }
        SafeTensors.write(file, tensors, Map.of(ModelFiles.CONFIG_KEY, ConfigJson.toJson(c)));
    }
}
