package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import vit22b.backend.Backend;
import vit22b.backend.InProjections;
import vit22b.backend.cpu.CpuBackend;
import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceGraph;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Every CUDA op against the CPU backend on fresh seeded random inputs (seed printed), fp32,
 * relative error below 1e-4, on every device of {@link Gpu#devicesOrSkip}: the emulated device
 * always, GPU 0 too when present, and then the GPU against the emulator as well. Shapes cross
 * the kernels' tile edges: odd sizes, column slices, K not a multiple of the K tile, M and N not
 * multiples of 128. Gradients start from random values, which checks that backward accumulates.
 */
class CudaOpsTest {
    static final double TOL = 1e-4;
    static Backend cpu;
    static List<CudaBackend> devices;
    /** cpu, then the devices: index i of every Tensor[] below is the tensor on backends[i]. */
    static Backend[] backends;
    final List<Tensor[]> live = new ArrayList<>();
    long seed;

    @BeforeAll static void open() {
        devices = Gpu.devicesOrSkip();
        cpu = new CpuBackend();
        backends = new Backend[devices.size() + 1];
        backends[0] = cpu;
        for (int i = 0; i < devices.size(); i++) backends[i + 1] = devices.get(i);
    }

    @AfterAll static void close() {
        if (devices != null) for (CudaBackend d : devices) d.close();
        if (cpu != null) cpu.close();
    }

    @BeforeEach void seed(TestInfo test) {
        seed = System.nanoTime();
        System.err.println("CudaOpsTest." + test.getDisplayName() + " seed " + seed);
    }

    /** The same tensor on every backend. */
    Tensor[] put(float[] a, int... shape) {
        Tensor[] p = new Tensor[backends.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = backends[i].allocate(shape);
            backends[i].upload(p[i], a);
        }
        live.add(p);
        return p;
    }

    Tensor[] rand(double std, int... shape) {
        return put(Check.randn(seed++, Math.toIntExact(Tensor.sizeOf(shape)), std), shape);
    }

    Tensor[] rand(int... shape) { return rand(1.0, shape); }

    Tensor[] uniform(double lo, double hi, int... shape) {
        return put(Check.uniform(seed++, Math.toIntExact(Tensor.sizeOf(shape)), lo, hi), shape);
    }

    /** An op on backend b, whose tensors are index i of each Tensor[]. */
    interface Op { void run(Backend b, int i); }

    /** Runs op on the CPU (skipping if not implemented yet) then on every device. */
    static void both(String what, Op op) {
        try {
            op.run(cpu, 0);
        } catch (UnsupportedOperationException e) {
            assumeTrue(false, "CPU reference for " + what + " not implemented yet: " + e.getMessage());
        }
        for (int i = 1; i < backends.length; i++) op.run(backends[i], i);
    }

    /** Each device against the CPU; with two devices, also the GPU against the emulator. */
    static void same(String what, Tensor[] p) {
        double[] want = Check.toDouble(cpu.download(p[0]));
        float[][] got = new float[backends.length][];
        for (int i = 1; i < backends.length; i++) {
            got[i] = backends[i].download(p[i]);
            Check.assertClose(what + " on " + backends[i].name(), got[i], want, TOL);
        }
        if (backends.length == 3) Check.assertClose(what + ": GPU vs emulator", got[2], Check.toDouble(got[1]), TOL);
    }

    /** Runs body on each device with its index into the Tensor[]s. */
    static void onEachDevice(java.util.function.ObjIntConsumer<CudaBackend> body) {
        for (int i = 1; i < backends.length; i++) body.accept((CudaBackend) backends[i], i);
    }

    @AfterEach void freeAll() {
        for (Tensor[] p : live)
            for (int i = 0; i < p.length; i++) backends[i].free(p[i]);
        live.clear();
    }

    // ---- memory and reductions ------------------------------------------------------------

    @Test void addScaleCopySumSquares() {
        Tensor[] x = rand(3, 1000), y = rand(3, 1000), z = rand(3000);
        both("add", (b, i) -> b.add(x[i], y[i]));
        same("add", x);
        both("scale", (b, i) -> b.scale(x[i], -0.37f));
        same("scale", x);
        both("copy", (b, i) -> b.copy(z[i], x[i].reshape(3000)));
        same("copy", z);
        double[] s = new double[backends.length];
        both("sumSquares", (b, i) -> s[i] = b.sumSquares(x[i]));
        for (int i = 1; i < s.length; i++) assertEquals(s[0], s[i], 1e-7 * s[0], "sumSquares on " + backends[i].name());
    }

    // ---- patch embedding ------------------------------------------------------------------

    @Test void patchEmbedding() {
        int B = 2, C = 3, S = 32, P = 8, D = 48, N = (S / P) * (S / P);
        Tensor[] img = rand(B, C, S, S), w = rand(0.1, D, C, P, P), bias = rand(D), pos = rand(N, D);
        Tensor[] out = rand(B, N, D), dout = rand(B, N, D);
        Tensor[] dw = rand(D, C, P, P), db = rand(D), dpos = rand(N, D);
        both("patchEmbedForward", (b, i) -> { b.patchEmbedForward(out[i], img[i], w[i], bias[i], pos[i], P); });
        same("patch out", out);
        both("patchEmbedBackward", (b, i) -> { b.patchEmbedBackward(dw[i], db[i], dpos[i], dout[i], img[i], P); });
        same("patch dw", dw);
        same("patch db", db);
        same("patch dpos", dpos);
    }

    // ---- norms ----------------------------------------------------------------------------

    @ParameterizedTest @CsvSource({"true,true", "true,false", "false,false"})
    void norm(boolean centered, boolean withBias) {
        int R = 37, W = 1000;
        Tensor[] x = rand(R, W), sc = rand(W), bias = withBias ? rand(W) : null;
        Tensor[] out = rand(R, W), st = rand(R, 2), dout = rand(R, W), dx = rand(R, W), dsc = rand(W);
        Tensor[] dbias = withBias ? rand(W) : null;
        both("normForward", (b, i) -> {
            b.normForward(out[i], st[i], x[i], sc[i], bias == null ? null : bias[i], centered, ModelConfig.EPS); });
        same("norm out", out);
        same("norm stats", st);
        both("normBackward", (b, i) -> {
            b.normBackward(dx[i], dsc[i], dbias == null ? null : dbias[i], dout[i], x[i], sc[i], st[i], centered); });
        same("norm dx", dx);
        same("norm dscale", dsc);
        if (withBias) same("norm dbias", dbias);
    }

    // ---- linear, gelu, heads --------------------------------------------------------------

    @ParameterizedTest @CsvSource({"70,96,130", "1,64,33", "129,200,64"})
    void linear(int R, int N, int K) {
        Tensor[] in = rand(R, K), w = rand(0.1, N, K), bias = rand(N), out = rand(R, N);
        Tensor[] dout = rand(R, N), din = rand(R, K), dw = rand(N, K), db = rand(N);
        both("linearForward", (b, i) -> { b.linearForward(out[i], in[i], w[i], bias[i]); });
        same("linear out", out);
        both("linearBackward", (b, i) -> { b.linearBackward(din[i], dw[i], db[i], dout[i], in[i], w[i]); });
        same("linear din", din);
        same("linear dw", dw);
        same("linear db", db);
    }

    @ParameterizedTest @EnumSource(GeluKind.class)
    void gelu(GeluKind kind) {
        Tensor[] in = rand(3.0, 5000), out = rand(5000), dout = rand(5000), din = rand(5000);
        both("geluForward", (b, i) -> { b.geluForward(out[i], in[i], kind); });
        same("gelu", out);
        both("geluBackward", (b, i) -> { b.geluBackward(din[i], dout[i], in[i], kind); });
        same("gelu din", din);
    }

    @Test void rowsAndHeads() {
        int B = 2, N = 9, H = 3, hd = 8, W = 40, col = 5;
        Tensor[] src = rand(W), dst = rand(B * N, W), sum = rand(W);
        both("broadcastRows", (b, i) -> { b.broadcastRows(dst[i], src[i]); });
        same("broadcastRows", dst);
        Tensor[] rows = rand(B * N, W);
        both("sumRows", (b, i) -> { b.sumRows(sum[i], rows[i]); });
        same("sumRows", sum);
        Tensor[] heads = rand(B, H, N, hd);
        both("toHeads", (b, i) -> { b.toHeads(heads[i], rows[i], col, B, H); });
        same("toHeads", heads);
        both("fromHeads", (b, i) -> { b.fromHeads(rows[i], col, heads[i], B, H); });
        same("fromHeads", rows);
    }

    // ---- the parallel block ---------------------------------------------------------------

    @ParameterizedTest @CsvSource({"RMS,TANH", "LAYER,EXACT"})
    void inProjection(NormKind norm, GeluKind gelu) {
        ModelConfig c = Presets.get("test-small").withNorm(norm).withGelu(gelu);
        int B = 3, N = c.tokens(), T = B * N, D = c.width(), M = c.mlp(), H = c.heads(), hd = c.headDim();
        Tensor[] y = rand(T, D), wIn = rand(0.2, c.inProjRows(), D), bMlp = rand(M), qs = rand(hd), ks = rand(hd);
        Tensor[] pre = rand(T, c.inProjRows()), ag = rand(T, D + M);
        Tensor[] q = rand(B, H, N, hd), k = rand(B, H, N, hd), v = rand(B, H, N, hd), st = rand(2, B, H, N, 2);
        both("inProjectionForward", (b, i) -> {
            InProjections.forward(b, c, B, y[i], wIn[i], bMlp[i], qs[i], ks[i], pre[i], ag[i], q[i], k[i], v[i], st[i]); });
        same("pre", pre);
        same("ag (GELU part; attention part untouched)", ag);
        same("q", q);
        same("k", k);
        same("v", v);
        same("qkStats", st);
        Tensor[] dag = rand(T, D + M), dq = rand(B, H, N, hd), dk = rand(B, H, N, hd), dv = rand(B, H, N, hd);
        Tensor[] dpre = rand(T, c.inProjRows()), dy = rand(T, D), dwIn = rand(c.inProjRows(), D), dbMlp = rand(M);
        Tensor[] dqs = rand(hd), dks = rand(hd);
        both("inProjectionBackward", (b, i) -> {
            InProjections.backward(b, c, B, dag[i], dq[i], dk[i], dv[i], y[i], wIn[i], bMlp[i], qs[i], ks[i], pre[i], st[i],
                    dpre[i], dy[i], dwIn[i], dbMlp[i], dqs[i], dks[i]); });
        same("dy", dy);
        same("dwIn", dwIn);
        same("dbMlp", dbMlp);
        same("dqScale", dqs);
        same("dkScale", dks);
    }

    /**
     * Nq not a multiple of the 8 query rows per block, Nk not a multiple of the 32-key tile (one,
     * two and several tiles), head_dim up to 256, Nq != Nk (the MAP head's single query). Small,
     * since the emulated device runs every CUDA thread (a 197 x 197 x 64 case takes ~30 s there).
     */
    @ParameterizedTest @CsvSource({"2,3,37,45,64", "1,1,130,161,32", "1,1,20,70,256", "2,4,1,196,32", "1,2,45,45,80"})
    void attention(int B, int H, int Nq, int Nk, int hd) {
        int stride = H * hd + 7;   // out is a column slice of a wider matrix, as in ag
        Tensor[] q = rand(B, H, Nq, hd), k = rand(B, H, Nk, hd), v = rand(B, H, Nk, hd);
        Tensor[] out = rand(B * Nq, stride), lse = rand(B, H, Nq), dout = rand(B * Nq, stride);
        Tensor[] dq = rand(B, H, Nq, hd), dk = rand(B, H, Nk, hd), dv = rand(B, H, Nk, hd);
        both("attentionForward", (b, i) -> { b.attentionForward(out[i], lse[i], q[i], k[i], v[i]); });
        same("attention out", out);
        same("attention lse", lse);
        both("attentionBackward", (b, i) -> {
            b.attentionBackward(dq[i], dk[i], dv[i], dout[i], out[i], lse[i], q[i], k[i], v[i]); });
        same("attention dq", dq);
        same("attention dk", dk);
        same("attention dv", dv);
    }

    @Test void outProjection() {
        int T = 150, D = 64, M = 256;
        Tensor[] x = rand(T, D), ag = rand(T, D + M), w = rand(0.1, D, D + M), bias = rand(D), out = rand(T, D);
        both("outProjectionForward", (b, i) -> { b.outProjectionForward(out[i], x[i], ag[i], w[i], bias[i]); });
        same("out-projection", out);
        Tensor[] dout = rand(T, D), dag = rand(T, D + M), dw = rand(D, D + M), db = rand(D);
        both("outProjectionBackward", (b, i) -> { b.outProjectionBackward(dag[i], dw[i], db[i], dout[i], ag[i], w[i]); });
        same("dag", dag);
        same("dwOut", dw);
        same("dbOut", db);
    }

    // ---- loss and optimiser ---------------------------------------------------------------

    @ParameterizedTest @EnumSource(LossKind.class)
    void loss(LossKind kind) {
        int B = 6, C = 1500;
        Tensor[] logits = rand(3.0, B, C), targets = uniform(0, 1, B, C), dl = rand(B, C);
        double[] l = new double[2];
        both("lossForwardBackward", (b, i) -> { l[i] = b.lossForwardBackward(logits[i], targets[i], dl[i], kind); });
        assertEquals(l[0], l[1], TOL * Math.abs(l[0]), "mean loss");
        same("dlogits", dl);
    }

    @Test void adamw() {
        int n = 10_000;
        Tensor[] p = rand(n), g = rand(n), m = rand(0.1, n), v = uniform(0.01, 1, n);
        both("adamw", (b, i) -> { b.adamw(p[i], g[i], m[i], v[i], null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 0.7f, 3); });
        same("adamw param", p);
        same("adamw m", m);
        same("adamw v", v);
    }

    // ---- machinery ------------------------------------------------------------------------

    @Test void secondStepAllocatesNothing() {
        Tensor[] q = rand(2, 2, 64, 32), k = rand(2, 2, 64, 32), v = rand(2, 2, 64, 32);
        Tensor[] out = rand(128, 64), lse = rand(2, 2, 64), dq = rand(2, 2, 64, 32), dk = rand(2, 2, 64, 32), dv = rand(2, 2, 64, 32);
        Tensor[] img = rand(2, 3, 16, 16), w = rand(64, 3, 4, 4), dw = rand(64, 3, 4, 4), pe = rand(2, 16, 64);
        onEachDevice((gpu, i) -> {
            Runnable step = () -> {
                gpu.attentionForward(out[i], lse[i], q[i], k[i], v[i]);
                gpu.attentionBackward(dq[i], dk[i], dv[i], out[i], out[i], lse[i], q[i], k[i], v[i]);
                gpu.patchEmbedBackward(dw[i], null, null, pe[i], img[i], 4);   // uses a scratch buffer
            };
            step.run();
            gpu.synchronize();
            long before = gpu.allocator().driverAllocations();
            step.run();
            gpu.synchronize();
            assertEquals(before, gpu.allocator().driverAllocations(), "cuMemAlloc called during a repeated step on " + gpu.name());
        });
    }

    @Test void capturedGraphReplaysTheSameWork() {
        int T = 96, D = 64, M = 128;
        Tensor[] x = rand(T, D), ag = rand(T, D + M), w = rand(0.1, D, D + M), bias = rand(D);
        Tensor[] eager = rand(T, D), graphed = rand(T, D);
        onEachDevice((gpu, i) -> {
            gpu.outProjectionForward(eager[i], x[i], ag[i], w[i], bias[i]);
            gpu.synchronize();
            gpu.stream().beginCapture();
            gpu.outProjectionForward(graphed[i], x[i], ag[i], w[i], bias[i]);
            try (DeviceGraph graph = gpu.stream().endCapture()) {
                gpu.zero(graphed[i]);
                graph.launch(gpu.stream());
                gpu.synchronize();
            }
            Check.assertClose("graph replay on " + gpu.name(), gpu.download(graphed[i]), Check.toDouble(gpu.download(eager[i])), 1e-12);
        });
    }

    /** Host transfers and reductions read back to the host cannot be part of a graph: a clear error, not a broken capture. */
    @Test void captureRefusesHostTransfers() {
        Tensor[] x = rand(100);
        onEachDevice((gpu, i) -> {
            gpu.stream().beginCapture();
            IllegalStateException up = assertThrows(IllegalStateException.class, () -> gpu.upload(x[i], new float[100]));
            IllegalStateException sum = assertThrows(IllegalStateException.class, () -> gpu.sumSquares(x[i]));
            gpu.stream().endCapture().close();
            assertTrue(up.getMessage().contains("upload while the backend's stream is being captured"), up.getMessage());
            assertTrue(sum.getMessage().contains("outside the capture"), sum.getMessage());
        });
    }

    /** Uploads are on the backend's stream: a kernel queued before an upload reads the old data, one queued after the new. */
    @Test void uploadsAreOrderedWithKernels() {
        int n = 5000;
        Tensor[] x = rand(n), acc = rand(n);
        float[] second = Check.randn(seed++, n, 1.0);
        both("add, upload, add", (b, i) -> {
            b.add(acc[i], x[i]);
            b.upload(x[i], second);
            b.add(acc[i], x[i]);
        });
        same("acc after add / upload / add", acc);
    }

    @Test void adamwRefusesStepZero() {
        Tensor[] p = rand(10), g = rand(10), m = rand(10), v = uniform(0.1, 1, 10);
        both("adamw step 0", (b, i) -> {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> b.adamw(p[i], g[i], m[i], v[i], null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1f, 0));
            assertTrue(e.getMessage().contains("step must be >= 1"), b.name() + ": " + e.getMessage());
        });
    }

    @Test void cudaErrorsNameTheKernel() {
        Tensor[] q = rand(1, 1, 4, 288), o = rand(4, 288), l = rand(1, 1, 4);
        onEachDevice((gpu, i) -> {
            CudaException e = assertThrows(CudaException.class,
                    () -> gpu.device().launcher().launch("no_such_kernel", 1, 1, 1, 1, 1, 1, 0, gpu.stream()));
            assertTrue(e.getMessage().contains("no_such_kernel") && e.getMessage().contains("CUDA_ERROR"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> gpu.attentionForward(o[i], l[i], q[i], q[i], q[i]));
        });
    }

    @Test void cublasLtPeerAgreesWithOurGemm() {
        int R = 300, N = 200, K = 160;
        Tensor[] in = rand(R, K), w = rand(0.1, N, K), ours = rand(R, N), peer = rand(R, N);
        onEachDevice((gpu, i) -> {
            if (gpu.name().equals("cuda-emu")) return;   // cuBLASLt runs only on a GPU
            gpu.linearForward(ours[i], in[i], w[i], null);
            try (CublasLt lt = new CublasLt(gpu)) {
                lt.matmulNT(CudaBackend.a(peer[i]), CudaBackend.a(in[i]), CudaBackend.a(w[i]), R, N, K, 0f, CublasLt.Type.F32);
            }
            Check.assertClose("cuBLASLt vs gemm_f32", gpu.download(peer[i]), Check.toDouble(gpu.download(ours[i])), TOL);
        });
        assumeTrue(backends.length == 3, "cuBLASLt needs a GPU; the emulated device runs our kernels only");
    }
}
