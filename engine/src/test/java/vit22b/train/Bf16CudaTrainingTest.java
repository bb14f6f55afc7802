package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import vit22b.backend.Backend;
import vit22b.backend.Bf16Rounding;
import vit22b.backend.Precision;
import vit22b.backend.cpu.CpuBackend;
import vit22b.backend.cuda.CudaBackend;
import vit22b.kernels.emu.EmuLibrary;
import vit22b.model.ModelConfig;
import vit22b.model.ViT;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * bf16 on the emulated CUDA device (bf16 storage and our bf16 kernels: tensor-core GEMMs,
 * attention, norms, element-wise ops, the fused AdamW writing the compute copy) against its
 * exact-semantics reference, the CPU bf16 run, and against fp32: the model and data of
 * {@link Bf16TrainingTest} (seed printed).
 *
 * <p>One pass from the same weights on the same batch: the loss and the whole parameter gradient
 * within DESIGN.md's whole-step tolerance of the CPU bf16 reference (2e-2 relative; the two
 * differ in the order of fp32 summation, which can move a value across a bf16 rounding
 * boundary, and in what the GPU rounds inside fused ops). Then {@link #STEPS} AdamW updates whose
 * losses track the fp32 CPU run within Bf16TrainingTest's bound, and the tensor-core GEMM really
 * ran: at least the six GEMMs of each block's two linear layers (forward NT, backward NN and TN)
 * per step.
 */
class Bf16CudaTrainingTest {
    /** A few dozen updates at a smaller batch than the CPU test's (the emulator runs every CUDA thread as a fiber). */
    static final int STEPS = 24, BATCH = 8;

    @Test void bf16OnEmulatedCudaTracksItsReferenceAndFp32() {
        assumeTrue(EmuLibrary.built(), "the emulated device is not built (no g++ at build time)");
        long seed = System.nanoTime();
        System.err.println("Bf16CudaTrainingTest seed " + seed);
        ModelConfig c = Bf16TrainingTest.model();
        float[] p0 = Bf16TrainingTest.initialParams(c, seed);

        double[] ref, gpu;
        float[] gRef, gGpu;
        try (Bf16Rounding be = new Bf16Rounding(new CpuBackend())) {
            ref = new double[1];
            gRef = onePass(be, c, p0, seed + 3, ref);
        }
        try (CudaBackend be = CudaBackend.emulated(Precision.BF16)) {
            gpu = new double[1];
            gGpu = onePass(be, c, p0, seed + 3, gpu);
            assertTrue(be.tensorCoreGemms() >= 6L * c.depth(), "the tensor-core GEMM ran " + be.tensorCoreGemms() + " times in one pass");
        }
        double lossErr = Math.abs(gpu[0] - ref[0]) / ref[0], gradErr = Check.relErr(gGpu, Check.toDouble(gRef));
        System.err.printf("one pass: loss cuda-emu bf16 %.6f vs cpu bf16 %.6f (rel %.2e); gradients rel %.2e%n",
                gpu[0], ref[0], lossErr, gradErr);
        assertTrue(lossErr < 2e-2 && gradErr < 2e-2, "whole step off its CPU bf16 reference: loss " + lossErr + ", grads " + gradErr);

        double[] fp32, emu;
        long gemms;
        try (CpuBackend be = new CpuBackend()) { fp32 = Bf16TrainingTest.train(be, c, p0, seed + 1, STEPS, BATCH); }
        try (CudaBackend be = CudaBackend.emulated(Precision.BF16)) {
            emu = Bf16TrainingTest.train(be, c, p0, seed + 1, STEPS, BATCH);
            gemms = be.tensorCoreGemms();
        }
        for (int s = 0; s < STEPS; s++) {
            System.err.printf("step %2d  fp32 cpu %.5f  bf16 cuda-emu %.5f%n", s + 1, fp32[s], emu[s]);
            assertTrue(Bf16TrainingTest.tracks(fp32, emu, s), "step " + (s + 1) + ": bf16 loss " + emu[s] + " vs fp32 " + fp32[s]);
        }
        assertTrue(emu[0] != fp32[0], "bf16 on cuda-emu gave fp32's loss bit for bit: nothing is rounded");
        System.err.println("tensor-core GEMMs in " + STEPS + " steps: " + gemms);
        assertTrue(gemms >= 6L * c.depth() * STEPS, "the tensor-core GEMM ran " + gemms + " times in " + STEPS + " steps");
    }

    /** The gradient of one forward-backward pass from masters p0 on a batch drawn from seed; its loss into loss[0]. */
    static float[] onePass(Backend be, ModelConfig c, float[] p0, long seed, double[] loss) {
        int n = c.imageSize() * c.imageSize() * c.channels(), k = c.classes();
        SplittableRandom r = new SplittableRandom(seed);
        float[] img = Check.uniform(r.nextLong(), BATCH * n, -1, 1), tgt = new float[BATCH * k];
        for (int b = 0; b < BATCH; b++) tgt[b * k + r.nextInt(k)] = 1;
        try (ViT vit = new ViT(be, c)) {
            be.upload(vit.params(), p0);
            Tensor images = be.allocate(BATCH, c.channels(), c.imageSize(), c.imageSize()), targets = be.allocate(BATCH, k);
            be.upload(images, img);
            be.upload(targets, tgt);
            loss[0] = vit.forwardBackward(images, targets);
            float[] g = be.download(vit.grads());
            be.free(images);
            be.free(targets);
            return g;
        }
    }
}
