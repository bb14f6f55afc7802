package vit22b.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import vit22b.graph.Mesh;
import vit22b.mesh.MeshTraining;
import vit22b.mesh.Trace;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.train.AdamW;

/**
 * Exposed communication of the sharded training step on a mesh of CPU threads, with overlap
 * (collective matmuls, weights gathered ahead on the communication queue) and without (every
 * transfer on the compute queue), measured from the executor's trace: per device, the time
 * spent communicating while not computing. Alternates the two modes to share the machine's
 * load between them. Writes JSON to the path given (default bench/results/mesh-overlap-cpu.json).
 * Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
 * -cp 'bench/target/classes:bench/target/lib/*' vit22b.bench.MeshOverlapCpu}
 */
public final class MeshOverlapCpu {
    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "bench/results/mesh-overlap-cpu.json");
        // ViT-S (Fashion-MNIST preset) cut to 4 blocks, at 32 x 32 px: 64 tokens per image, 6 heads.
        ModelConfig c = Presets.get("vit-s-fmnist").withDepth(4).withImage(32, 1);
        int batch = 8, steps = 3, reps = 2;
        AdamW.Config opt = new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 3f, 1f);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("what", "exposed communication per training step on a mesh of CPU threads (one JVM), from the executor's trace");
        doc.put("machine", cpuName() + ", " + Runtime.getRuntime().availableProcessors() + " cores, shared with other jobs");
        doc.put("loadavg_start", Files.readString(Path.of("/proc/loadavg")).trim());
        doc.put("model", c.name() + " depth " + c.depth() + " width " + c.width() + " mlp " + c.mlp() + " heads " + c.heads()
                + " image " + c.imageSize() + " patch " + c.patch() + " (" + c.tokens() + " tokens)");
        doc.put("batch", batch);
        doc.put("steps_per_run", steps);
        List<Object> results = new ArrayList<>();
        for (Mesh mesh : new Mesh[]{new Mesh(1, 2), new Mesh(2, 1)}) {
            MeshTraining.onThreads(new MeshTraining.Setup(c, batch, 1, 1, 1e-3f, opt, true), mesh, null);   // JIT warm-up
            for (int rep = 0; rep < reps; rep++)
                for (boolean overlap : new boolean[]{false, true}) {
                    Trace t = new Trace();
                    MeshTraining.onThreads(new MeshTraining.Setup(c, batch, steps, 1, 1e-3f, opt, overlap), mesh, t);
                    double comm = 0, exposed = 0, compute = 0;
                    for (int r = 0; r < mesh.devices(); r++) {
                        comm += t.busy(r, true);
                        exposed += t.exposedCommunication(r);
                        compute += t.busy(r, false);
                    }
                    double per = 1e9 * steps * mesh.devices();
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("mesh", mesh.toString());
                    m.put("overlap", overlap);
                    m.put("repeat", rep);
                    m.put("step_s", t.span() / 1e9 / steps);
                    m.put("comm_s_per_step", comm / per);
                    m.put("exposed_comm_s_per_step", exposed / per);
                    m.put("compute_s_per_step", compute / per);
                    results.add(m);
                    System.out.println(m);
                }
        }
        doc.put("results", results);
        doc.put("loadavg_end", Files.readString(Path.of("/proc/loadavg")).trim());
        doc.put("date", Instant.now().toString());
        Files.createDirectories(out.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), doc);
        System.out.println("written " + out);
    }

    private static String cpuName() throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/cpuinfo")))
            if (l.startsWith("model name")) return l.substring(l.indexOf(':') + 1).trim();
        return "unknown CPU";
    }
}
