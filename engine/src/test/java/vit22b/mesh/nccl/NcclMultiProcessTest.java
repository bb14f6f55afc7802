package vit22b.mesh.nccl;

import java.nio.file.Path;
import java.util.stream.Stream;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import vit22b.backend.cuda.CudaBackend;
import vit22b.backend.cuda.Gpu;
import vit22b.graph.Mesh;
import vit22b.kernels.CudaException;
import vit22b.mesh.net.MultiProcessTest;

/**
 * NCCL across processes, one JVM per GPU launched like torchrun on loopback
 * ({@link NcclWorker}): every collective against the naive result, then two training steps
 * that must equal the unsharded step on GPU 0 in this JVM. 1x1 needs one GPU; 1x2 and 2x1
 * need two, 2x2 four: meshes larger than the GPU count are not generated, and without a GPU,
 * the kernels or libnccl.so.2 the test is skipped saying why. The tolerance is that of GPU
 * kernels with different reduction orders (sharded sums), not yet calibrated on GPUs.
 */
class NcclMultiProcessTest {
    static final double TOL = 1e-4;

    static Stream<Mesh> meshes() {
        int n = Gpu.countOrSkip();
        try {
            Nccl.version();
        } catch (CudaException | LinkageError e) {
            Gpu.skip(e.getMessage());
        }
        var all = Stream.of(new Mesh(1, 1), new Mesh(1, 2), new Mesh(2, 1), new Mesh(2, 2)).toList();
        var left = all.stream().filter(m -> m.devices() > n).map(m -> m + " (" + m.devices() + " GPUs)").toList();
        System.err.println("NCCL tests: " + n + " GPU(s) visible" + (left.isEmpty() ? "" : "; not run: " + String.join(", ", left)));
        return all.stream().filter(m -> m.devices() <= n);
    }

    @ParameterizedTest @MethodSource("meshes")
    void oneProcessPerGpuTrainsLikeOneGpu(Mesh mesh, @TempDir Path dir) throws Exception {
        System.out.println("NCCL multi-process " + mesh + ": collectives seed " + NcclWorker.SEED);
        MultiProcessTest.runJob(NcclWorker.class, mesh, dir, 300);
        try (CudaBackend gpu0 = new CudaBackend(0, CudaBackend.GemmPath.KERNELS)) {
            MultiProcessTest.assertLikeOneDevice(gpu0, mesh, dir, TOL);
        }
    }
}
