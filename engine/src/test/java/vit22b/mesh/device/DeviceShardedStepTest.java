package vit22b.mesh.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import vit22b.backend.Backends;
import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.Gpu;
import vit22b.graph.Mesh;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.mesh.MeshTraining;
import vit22b.mesh.ShardedSteps;
import vit22b.mesh.ShardedViT;
import vit22b.mesh.Trace;
import vit22b.model.Buffers;
import vit22b.model.ModelConfig;
import vit22b.model.ModelFixtures;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;
import vit22b.train.AdamW;

/**
 * Two training steps of the sharded model with every rank on ONE CUDA device (the single-device
 * communicator and the stream executor) equal two unsharded steps ({@link ViT#forwardBackward},
 * {@link AdamW#step}) on a backend of the same kind, on meshes 1x2 (also without overlap), 2x1
 * and 2x2: loss, gradient norm and every parameter tensor after the second step within 1e-5
 * (relative, per tensor). On the emulated device
 * always (seeds printed), on GPU 0 as well where there is one (bench/gpu/run-all.sh). Small
 * (test-tiny, batch 4) because the emulator runs every CUDA thread on the CPU.
 */
class DeviceShardedStepTest {
    static final int BATCH = 4, STEPS = 2;
    static final float LR = 1e-2f;
    /** ShardedViTTest's: clipping on, body and head decay differ, eps large next to the clipped gradients. */
    static final AdamW.Config OPT = new AdamW.Config(0.9f, 0.95f, 1e-3f, 0.1f, 0.3f, 0.5f);
    static final long SEED = System.nanoTime() & 0xffff;

    static { System.out.println("DeviceShardedStepTest seed " + SEED); }

    static Stream<Arguments> meshes() {
        List<Arguments> out = new ArrayList<>();
        for (String device : Gpu.deviceNamesOrSkip())
            for (String mesh : new String[]{"1x2", "2x1", "2x2"})
                for (boolean overlap : new boolean[]{true, false})
                    if (overlap || mesh.equals("1x2")) out.add(Arguments.of(device, mesh, overlap));
        return out.stream();
    }

    record Unsharded(double loss, double norm, float[] params) {}

    static Unsharded unsharded(String device, ModelConfig c, float[] params, float[][] img, float[][] tgt) {
        try (CudaBackend be = new CudaBackend(Backends.device(device), CudaBackend.GemmPath.KERNELS);
             ViT vit = new ViT(be, c); Buffers buf = new Buffers(be);
             AdamW opt = new AdamW(be, vit, OPT)) {
            be.upload(vit.params(), params);
            Tensor images = buf.get(BATCH, c.channels(), c.imageSize(), c.imageSize()), targets = buf.get(BATCH, c.classes());
            double loss = 0, norm = 0;
            for (int s = 0; s < STEPS; s++) {
                be.upload(images, img[s]);
                be.upload(targets, tgt[s]);
                loss = vit.forwardBackward(images, targets);
                norm = opt.step(LR);
            }
            return new Unsharded(loss, norm, be.download(vit.params()));
        }
    }

    @ParameterizedTest(name = "{0} mesh {1} overlap {2}")
    @MethodSource("meshes")
    void twoShardedStepsOnOneDeviceEqualTwoUnshardedSteps(String device, String meshName, boolean overlap) {
        ModelConfig c = Presets.get("test-tiny");
        ParamLayout layout = new ParamLayout(c);
        float[] params = ModelFixtures.randomParams(layout, SEED);
        float[][] img = new float[STEPS][], tgt = new float[STEPS][];
        for (int s = 0; s < STEPS; s++) {
            img[s] = ModelFixtures.images(c, BATCH, SEED + 1 + s);
            tgt[s] = ModelFixtures.targets(c, BATCH, SEED + 11 + s);
        }
        Unsharded ref = unsharded(device, c, params, img, tgt);

        Mesh mesh = Mesh.parse(meshName);
        int n = mesh.devices();
        ShardedSteps.Result got;
        try (DeviceMesh dm = new DeviceMesh(mesh, Backends.device(device))) {
            got = ShardedSteps.run(dm, c, BATCH, params, OPT, LR, img, tgt, overlap);
        }
        ShardedViT[] models = got.models();
        float[][] rest = got.rest();
        float[][][] blocks = got.blocks();

        System.out.printf("%s mesh %s overlap %s: loss %.6f (unsharded %.6f), norm %.5f (unsharded %.5f, clip %.2f)%n",
                device, mesh, overlap, models[0].loss(), ref.loss(), models[0].gradNorm(), ref.norm(), OPT.clipNorm());
        ParamLayout restLayout = ParamLayout.withoutBlocks(c);
        float[] refRest = restLayout.extract(layout, ref.params());
        ParamLayout shard = ParamLayout.blockShard(c, mesh.model());
        for (int r = 0; r < n; r++) {
            assertEquals(STEPS, models[r].step());
            assertEquals(0, Math.abs(models[r].loss() - ref.loss()) / ref.loss(), 1e-5,
                    "second loss on rank " + r + ": " + models[r].loss() + " vs " + ref.loss());
            assertEquals(0, Math.abs(models[r].gradNorm() - ref.norm()) / ref.norm(), 1e-5,
                    "second gradient norm on rank " + r + ": " + models[r].gradNorm() + " vs " + ref.norm());
            for (ParamLayout.Entry e : restLayout.entries())
                assertRegion(e.name() + " on rank " + r, rest[r], refRest, e.offset(), e.size());
            for (int l = 0; l < c.depth(); l++) {
                float[] want = shard.extractShard(ref.params(), l, mesh.modelIndex(r));
                for (ParamLayout.Entry e : shard.entries())
                    assertRegion("block " + l + " " + e.name() + " of model shard " + mesh.modelIndex(r) + " on rank " + r,
                            blocks[r][l], want, e.offset(), e.size());
            }
        }
    }

    /**
     * A traced 1x2 step on the emulated device: valid Chrome trace JSON with communication and
     * compute tasks of every rank from CUDA events, saying where its times come from.
     */
    @Test void aTracedStepHasEveryRanksTasksAndSaysWhatItsTimesAre(@TempDir Path dir) throws Exception {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        var s = new vit22b.mesh.MeshTraining.Setup(Presets.get("test-tiny"), BATCH, 1, SEED, 1e-3f, OPT, true);
        Trace trace = new Trace();
        double[] losses;
        try (DeviceMesh dm = new DeviceMesh(new Mesh(1, 2), Backends.device("cuda-emu"))) {
            losses = MeshTraining.on(dm, s, trace);
        }
        assertTrue(Double.isFinite(losses[0]) && losses[0] > 0, "loss " + losses[0]);
        Path file = dir.resolve("step.json");
        trace.write(file);
        JsonNode doc = new ObjectMapper().readTree(file.toFile());
        assertTrue(doc.get("otherData").get("times").asText().contains("not GPU timings"), doc.get("otherData").toString());
        int[][] count = new int[2][2];
        for (JsonNode e : doc.get("traceEvents")) {
            if (!e.get("ph").asText().equals("X")) continue;
            assertTrue(e.get("dur").asDouble() >= 0 && e.get("ts").asDouble() >= 0, e.toString());
            count[e.get("pid").asInt()][e.get("cat").asText().equals("comm") ? 1 : 0]++;
        }
        System.out.println("traced 1x2 step on the emulated device: [compute, comm] events per rank " + Arrays.deepToString(count));
        for (int[] r : count) assertTrue(r[0] > 10 && r[1] > 5, Arrays.deepToString(count));
    }

    static void assertRegion(String what, float[] got, float[] ref, long offset, long size) {
        int o = (int) offset, s = (int) size;
        Check.assertClose(what, Arrays.copyOfRange(got, o, o + s), Check.toDouble(Arrays.copyOfRange(ref, o, o + s)), 1e-5);
    }
}
