package vit22b.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.kernels.CudaException;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * Every CUDA op against the CPU backend on fresh seeded random inputs, fp32, relative error
 * below 1e-4. Gradients start from random values, which checks that backward accumulates.
 * Skips without a GPU (see {@link Gpu}); an op whose CPU reference is not implemented yet is
 * skipped with that reason.
 */
class CudaOpsTest {
    static final double TOL = 1e-4;
    static CudaBackend gpu;
    static Backend cpu;
    final List<Tensor[]> live = new ArrayList<>();
    long seed = System.nanoTime();

    @BeforeAll static void open() {
        gpu = Gpu.backendOrSkip();
        cpu = new CpuBackend();
    }

    @AfterAll static void close() {
        if (gpu != null) gpu.close();
        if (cpu != null) cpu.close();
    }

    /** The same tensor on both backends: [cpu, gpu]. */
    Tensor[] rand(double std, int... shape) {
        float[] a = Check.randn(seed++, Math.toIntExact(Tensor.sizeOf(shape)), std);
        Tensor c = cpu.allocate(shape), g = gpu.allocate(shape);
        cpu.upload(c, a);
        gpu.upload(g, a);
        Tensor[] p = {c, g};
        live.add(p);
        return p;
    }

    Tensor[] rand(int... shape) { return rand(1.0, shape); }

    Tensor[] uniform(double lo, double hi, int... shape) {
        float[] a = Check.uniform(seed++, Math.toIntExact(Tensor.sizeOf(shape)), lo, hi);
        Tensor c = cpu.allocate(shape), g = gpu.allocate(shape);
        cpu.upload(c, a);
        gpu.upload(g, a);
        Tensor[] p = {c, g};
        live.add(p);
        return p;
    }

    static Tensor c(Tensor[] p) { return p == null ? null : p[0]; }
    static Tensor g(Tensor[] p) { return p == null ? null : p[1]; }

    /** Runs op on the CPU (skipping if not implemented yet) then on the GPU. */
    static void both(String what, java.util.function.Consumer<Backend> op) {
        try {
            op.accept(cpu);
        } catch (UnsupportedOperationException e) {
            assumeTrue(false, "CPU reference for " + what + " not implemented yet: " + e.getMessage());
        }
        op.accept(gpu);
    }

    static void same(String what, Tensor[] p) {
        float[] want = cpu.download(p[0]), got = gpu.download(p[1]);
        Check.assertClose(what, got, Check.toDouble(want), TOL);
    }

    @org.junit.jupiter.api.AfterEach void freeAll() {
        for (Tensor[] p : live) { cpu.free(p[0]); gpu.free(p[1]); }
        live.clear();
    }

    // ---- memory and reductions ------------------------------------------------------------

    @Test void addScaleCopySumSquares() {
        Tensor[] x = rand(3, 1000), y = rand(3, 1000), z = rand(3000);
        both("add", b -> b.add(x[b == cpu ? 0 : 1], y[b == cpu ? 0 : 1]));
        same("add", x);
        both("scale", b -> b.scale(x[b == cpu ? 0 : 1], -0.37f));
        same("scale", x);
        gpu.copy(g(z), g(x).reshape(3000));
        Check.assertClose("copy", gpu.download(g(z)), Check.toDouble(gpu.download(g(x))), 1e-12);
        double[] s = new double[2];
        both("sumSquares", b -> s[b == cpu ? 0 : 1] = b.sumSquares(x[b == cpu ? 0 : 1]));
        assertEquals(s[0], s[1], 1e-7 * s[0], "sumSquares");
    }

    // ---- patch embedding ------------------------------------------------------------------

    @Test void patchEmbedding() {
        int B = 2, C = 3, S = 32, P = 8, D = 48, N = (S / P) * (S / P);
        Tensor[] img = rand(B, C, S, S), w = rand(0.1, D, C, P, P), bias = rand(D), pos = rand(N, D);
        Tensor[] out = rand(B, N, D), dout = rand(B, N, D);
        Tensor[] dw = rand(D, C, P, P), db = rand(D), dpos = rand(N, D);
        both("patchEmbedForward", b -> { int i = b == cpu ? 0 : 1; b.patchEmbedForward(out[i], img[i], w[i], bias[i], pos[i], P); });
        same("patch out", out);
        both("patchEmbedBackward", b -> { int i = b == cpu ? 0 : 1; b.patchEmbedBackward(dw[i], db[i], dpos[i], dout[i], img[i], P); });
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
        both("normForward", b -> { int i = b == cpu ? 0 : 1;
            b.normForward(out[i], st[i], x[i], sc[i], bias == null ? null : bias[i], centered, ModelConfig.EPS); });
        same("norm out", out);
        same("norm stats", st);
        both("normBackward", b -> { int i = b == cpu ? 0 : 1;
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
        both("linearForward", b -> { int i = b == cpu ? 0 : 1; b.linearForward(out[i], in[i], w[i], bias[i]); });
        same("linear out", out);
        both("linearBackward", b -> { int i = b == cpu ? 0 : 1; b.linearBackward(din[i], dw[i], db[i], dout[i], in[i], w[i]); });
        same("linear din", din);
        same("linear dw", dw);
        same("linear db", db);
    }

    @ParameterizedTest @EnumSource(GeluKind.class)
    void gelu(GeluKind kind) {
        Tensor[] in = rand(3.0, 5000), out = rand(5000), dout = rand(5000), din = rand(5000);
        both("geluForward", b -> { int i = b == cpu ? 0 : 1; b.geluForward(out[i], in[i], kind); });
        same("gelu", out);
        both("geluBackward", b -> { int i = b == cpu ? 0 : 1; b.geluBackward(din[i], dout[i], in[i], kind); });
        same("gelu din", din);
    }

    @Test void rowsAndHeads() {
        int B = 2, N = 9, H = 3, hd = 8, W = 40, col = 5;
        Tensor[] src = rand(W), dst = rand(B * N, W), sum = rand(W);
        both("broadcastRows", b -> { int i = b == cpu ? 0 : 1; b.broadcastRows(dst[i], src[i]); });
        same("broadcastRows", dst);
        Tensor[] rows = rand(B * N, W);
        both("sumRows", b -> { int i = b == cpu ? 0 : 1; b.sumRows(sum[i], rows[i]); });
        same("sumRows", sum);
        Tensor[] heads = rand(B, H, N, hd);
        both("toHeads", b -> { int i = b == cpu ? 0 : 1; b.toHeads(heads[i], rows[i], col, B, H); });
        same("toHeads", heads);
        both("fromHeads", b -> { int i = b == cpu ? 0 : 1; b.fromHeads(rows[i], col, heads[i], B, H); });
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
        both("inProjectionForward", b -> { int i = b == cpu ? 0 : 1;
            b.inProjectionForward(c, B, y[i], wIn[i], bMlp[i], qs[i], ks[i], pre[i], ag[i], q[i], k[i], v[i], st[i]); });
        same("pre", pre);
        same("ag (GELU part; attention part untouched)", ag);
        same("q", q);
        same("k", k);
        same("v", v);
        same("qkStats", st);
        Tensor[] dag = rand(T, D + M), dq = rand(B, H, N, hd), dk = rand(B, H, N, hd), dv = rand(B, H, N, hd);
        Tensor[] dpre = rand(T, c.inProjRows()), dy = rand(T, D), dwIn = rand(c.inProjRows(), D), dbMlp = rand(M);
        Tensor[] dqs = rand(hd), dks = rand(hd);
        both("inProjectionBackward", b -> { int i = b == cpu ? 0 : 1;
            b.inProjectionBackward(c, B, dag[i], dq[i], dk[i], dv[i], y[i], wIn[i], bMlp[i], qs[i], ks[i], pre[i], st[i],
                    dpre[i], dy[i], dwIn[i], dbMlp[i], dqs[i], dks[i]); });
        same("dy", dy);
        same("dwIn", dwIn);
        same("dbMlp", dbMlp);
        same("dqScale", dqs);
        same("dkScale", dks);
    }

    /** Sequence lengths up to 1024, head_dim up to 256, Nq != Nk (the MAP head's single query). */
    @ParameterizedTest @CsvSource({"2,3,197,197,64", "1,2,1024,1024,64", "1,1,100,300,256", "2,4,1,196,32", "1,2,45,45,80"})
    void attention(int B, int H, int Nq, int Nk, int hd) {
        int stride = H * hd + 7;   // out is a column slice of a wider matrix, as in ag
        Tensor[] q = rand(B, H, Nq, hd), k = rand(B, H, Nk, hd), v = rand(B, H, Nk, hd);
        Tensor[] out = rand(B * Nq, stride), lse = rand(B, H, Nq), dout = rand(B * Nq, stride);
        Tensor[] dq = rand(B, H, Nq, hd), dk = rand(B, H, Nk, hd), dv = rand(B, H, Nk, hd);
        both("attentionForward", b -> { int i = b == cpu ? 0 : 1; b.attentionForward(out[i], lse[i], q[i], k[i], v[i]); });
        same("attention out", out);
        same("attention lse", lse);
        both("attentionBackward", b -> { int i = b == cpu ? 0 : 1;
            b.attentionBackward(dq[i], dk[i], dv[i], dout[i], out[i], lse[i], q[i], k[i], v[i]); });
        same("attention dq", dq);
        same("attention dk", dk);
        same("attention dv", dv);
    }

    @Test void outProjection() {
        int T = 150, D = 64, M = 256;
        Tensor[] x = rand(T, D), ag = rand(T, D + M), w = rand(0.1, D, D + M), bias = rand(D), out = rand(T, D);
        both("outProjectionForward", b -> { int i = b == cpu ? 0 : 1; b.outProjectionForward(out[i], x[i], ag[i], w[i], bias[i]); });
        same("out-projection", out);
        Tensor[] dout = rand(T, D), dag = rand(T, D + M), dw = rand(D, D + M), db = rand(D);
        both("outProjectionBackward", b -> { int i = b == cpu ? 0 : 1; b.outProjectionBackward(dag[i], dw[i], db[i], dout[i], ag[i], w[i]); });
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
        both("lossForwardBackward", b -> { int i = b == cpu ? 0 : 1; l[i] = b.lossForwardBackward(logits[i], targets[i], dl[i], kind); });
        assertEquals(l[0], l[1], TOL * Math.abs(l[0]), "mean loss");
        same("dlogits", dl);
    }

    @Test void adamw() {
        int n = 10_000;
        Tensor[] p = rand(n), g = rand(n), m = rand(0.1, n), v = uniform(0.01, 1, n);
        both("adamw", b -> { int i = b == cpu ? 0 : 1; b.adamw(p[i], g[i], m[i], v[i], 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 0.7f, 3); });
        same("adamw param", p);
        same("adamw m", m);
        same("adamw v", v);
    }

    // ---- machinery ------------------------------------------------------------------------

    @Test void secondStepAllocatesNothing() {
        Tensor[] q = rand(2, 2, 64, 32), k = rand(2, 2, 64, 32), v = rand(2, 2, 64, 32);
        Tensor[] out = rand(128, 64), lse = rand(2, 2, 64), dq = rand(2, 2, 64, 32), dk = rand(2, 2, 64, 32), dv = rand(2, 2, 64, 32);
        Tensor[] img = rand(2, 3, 16, 16), w = rand(64, 3, 4, 4), dw = rand(64, 3, 4, 4), pe = rand(2, 16, 64);
        Runnable step = () -> {
            gpu.attentionForward(g(out), g(lse), g(q), g(k), g(v));
            gpu.attentionBackward(g(dq), g(dk), g(dv), g(out), g(out), g(lse), g(q), g(k), g(v));
            gpu.patchEmbedBackward(g(dw), null, null, g(pe), g(img), 4);   // uses a scratch buffer
        };
        step.run();
        gpu.synchronize();
        long before = gpu.allocator().driverAllocations();
        step.run();
        gpu.synchronize();
        assertEquals(before, gpu.allocator().driverAllocations(), "cuMemAlloc called during a repeated step");
    }

    @Test void capturedGraphReplaysTheSameWork() {
        int T = 96, D = 64, M = 128;
        Tensor[] x = rand(T, D), ag = rand(T, D + M), w = rand(0.1, D, D + M), bias = rand(D);
        Tensor[] eager = rand(T, D), graphed = rand(T, D);
        gpu.outProjectionForward(g(eager), g(x), g(ag), g(w), g(bias));
        gpu.synchronize();
        gpu.stream().beginCapture();
        gpu.outProjectionForward(g(graphed), g(x), g(ag), g(w), g(bias));
        try (CudaGraph graph = gpu.stream().endCapture()) {
            gpu.zero(g(graphed));
            graph.launch();
            gpu.synchronize();
        }
        Check.assertClose("graph replay", gpu.download(g(graphed)), Check.toDouble(gpu.download(g(eager))), 1e-12);
    }

    @Test void cudaErrorsNameTheKernel() {
        try (vit22b.kernels.KernelModule m = new vit22b.kernels.KernelModule()) {
            CudaException e = assertThrows(CudaException.class, () -> m.function("no_such_kernel"));
            assertTrue(e.getMessage().contains("no_such_kernel") && e.getMessage().contains("CUDA_ERROR"), e.getMessage());
        }
        Tensor[] q = rand(1, 1, 4, 288);
        assertThrows(IllegalArgumentException.class, () -> gpu.attentionForward(g(rand(4, 288)), g(rand(1, 1, 4)), g(q), g(q), g(q)));
    }

    @Test void cublasLtPeerAgreesWithOurGemm() {
        int R = 300, N = 200, K = 160;
        Tensor[] in = rand(R, K), w = rand(0.1, N, K), ours = rand(R, N), peer = rand(R, N);
        gpu.linearForward(g(ours), g(in), g(w), null);
        try (CublasLt lt = new CublasLt(gpu)) {
            lt.matmulNT(CudaBackend.a(g(peer)), CudaBackend.a(g(in)), CudaBackend.a(g(w)), R, N, K, 0f, CublasLt.Type.F32);
        }
        Check.assertClose("cuBLASLt vs gemm_f32", gpu.download(g(peer)), Check.toDouble(gpu.download(g(ours))), TOL);
    }
}
