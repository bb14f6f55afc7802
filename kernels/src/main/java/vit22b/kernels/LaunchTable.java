package vit22b.kernels;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;


/**
 * Every wrapper of {@link Kernels} called once on one model-shaped problem against a recording
 * launcher: the launch shapes exactly as the wrappers compute them, with no GPU. Read by the
 * build's resource check ({@code kernels/check-resources.sh} runs {@link #main}: threads per block
 * and dynamic shared memory per kernel at the largest head dim) and by the tests (argument lists
 * against the CUDA signatures, grid limits at ViT-22B sizes). Device addresses are fake and
 * 256-byte aligned.
 */
public final class LaunchTable {
    private LaunchTable() {}

    /**
     * One model's sizes: batch, image side, patch side, channels, width, heads, MLP width,
     * classes. Tokens and head dim follow.
     */
    public record Problem(int batch, int image, int patch, int channels, int width, int heads, int mlp, int classes) {
        public int tokens() { return (image / patch) * (image / patch); }
        public int headDim() { return width / heads; }
    }

    /** One recorded launch; {@code wrapper} is the {@link Kernels} method that made it. */
    public record Launch(String wrapper, String kernel, int[] grid, int[] block, int sharedBytes, Object[] args) {
        public long threads() { return (long) block[0] * block[1] * block[2]; }
    }

    /** Records launches instead of running them. */
    public static final class Recorder implements KernelLauncher {
        private final List<Launch> launches = new ArrayList<>();

        @Override public void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                     DeviceStream stream, Object... args) {
            String wrapper = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE)
                    .walk(f -> f.filter(x -> x.getDeclaringClass() == Kernels.class).findFirst())
                    .map(StackWalker.StackFrame::getMethodName).orElse("?");
            launches.add(new Launch(wrapper, name, new int[] {gx, gy, gz}, new int[] {bx, by, bz}, sharedBytes, args.clone()));
        }

        public List<Launch> launches() { return launches; }
    }

    /** The launches of every wrapper on problem {@code p}. */
    public static List<Launch> record(Problem p) {
        Recorder r = new Recorder();
        callEveryWrapper(new Kernels(r, null), p);
        return r.launches();
    }

    /**
     * Calls each wrapper once with sizes of a training step of {@code p} (the GEMMs as the
     * fused in-projection, the epilogue as the out-projection's). A new wrapper must be added here: the tests
     * fail on any public wrapper this does not call.
     */
    public static void callEveryWrapper(Kernels k, Problem p) {
        int B = p.batch(), N = p.tokens(), H = p.heads(), hd = p.headDim(), D = p.width(), M = p.mlp();
        int rows = M + 3 * D, C = p.classes(), T = B * N, BH = B * H;
        long n = (long) T * D;
        int[] next = {1};
        java.util.function.LongSupplier ptr = () -> 0x7f00_0000_0000L + 0x1_0000_0000L * next[0]++;
        float scale = (float) (1 / Math.sqrt(hd));
        int gk = 0;
        k.gemm(ptr.getAsLong(), D, 1, ptr.getAsLong(), 1, D, ptr.getAsLong(), rows, T, rows, D, false,
                ptr.getAsLong(), ptr.getAsLong(), D, T, ptr.getAsLong(), D + M, M, ptr.getAsLong(), gk);
        // the tensor-core GEMM in its three forms: in-projection forward (GELU into the MLP columns),
        // out-projection data gradient (GELU backward into them), in-projection weight gradient (bias gradient)
        long y = ptr.getAsLong(), wIn = ptr.getAsLong(), pre = ptr.getAsLong(), ag = ptr.getAsLong();
        k.gemmBf16Mma(new MmaGemm.Operands(MmaGemm.Form.NT, y, D, wIn, D, pre, rows, T, rows, D),
                MmaGemm.Epilogue.plain(true).withGelu(gk, 0, M, ag + 2L * D, D + M, ptr.getAsLong()));
        k.gemmBf16Mma(new MmaGemm.Operands(MmaGemm.Form.NN, ptr.getAsLong(), D, ptr.getAsLong(), D + M, ag, D + M, T, D + M, D),
                MmaGemm.Epilogue.plain(true).withGeluBackward(gk, D, M, pre, rows, ptr.getAsLong()));
        k.gemmBf16Mma(new MmaGemm.Operands(MmaGemm.Form.TN, pre, rows, y, D, ptr.getAsLong(), D, rows, D, T),
                MmaGemm.Epilogue.plain(false).accumulate().withBiasGradient(ptr.getAsLong()));
        // the Hopper GEMM on the same three calls (tensor maps from a Hopper runtime that encodes zeros)
        TensorMapCache maps = new TensorMapCache(zeroTensorMaps());
        k.gemmBf16Wgmma(maps, new MmaGemm.Operands(MmaGemm.Form.NT, y, D, wIn, D, pre, rows, T, rows, D),
                MmaGemm.Epilogue.plain(true).withGelu(gk, 0, M, ag + 2L * D, D + M, ptr.getAsLong()));
        k.gemmBf16Wgmma(maps, new MmaGemm.Operands(MmaGemm.Form.NN, ptr.getAsLong(), D, ptr.getAsLong(), D + M, ag, D + M, T, D + M, D),
                MmaGemm.Epilogue.plain(true).withGeluBackward(gk, D, M, pre, rows, ptr.getAsLong()));
        k.gemmBf16Wgmma(maps, new MmaGemm.Operands(MmaGemm.Form.TN, pre, rows, y, D, ptr.getAsLong(), D, rows, D, T),
                MmaGemm.Epilogue.plain(false).accumulate().withBiasGradient(ptr.getAsLong()));
        // the in-projection with its epilogue fused (Hopper): q from column M rounded up to a head a tile can take
        int qhd = MmaGemm.qkFits(hd, hd) ? hd : 64, qCol = (M + qhd - 1) / qhd * qhd;
        k.gemmBf16WgmmaQk(maps, new MmaGemm.Operands(MmaGemm.Form.NT, y, D, wIn, D, pre, qCol + 3L * H * qhd, T, qCol + 3 * H * qhd, D),
                new MmaGemm.Gelu(false, gk, 0, qCol, ag, qCol + 8L, ptr.getAsLong()),
                new MmaGemm.QkNorm(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                        qCol, N, H, qhd, true, 1e-6f));
        k.gemmEpilogue(ptr.getAsLong(), D, T, D, ptr.getAsLong(), ptr.getAsLong(), D, T, 0, 0, 0, 0, gk);
        for (boolean bf16 : new boolean[] {false, true}) {   // attention.cu's float and bf16 instantiations
            k.attnFwd(bf16, ptr.getAsLong(), D, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), BH, H, N, N,
                    hd, scale);
            k.attnBwdDelta(bf16, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), D, BH, H, N, hd);
            k.attnBwdDq(bf16, ptr.getAsLong(), ptr.getAsLong(), D, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                    ptr.getAsLong(), ptr.getAsLong(), BH, H, N, N, hd, scale);
            k.attnBwdDkDv(bf16, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), D, ptr.getAsLong(), ptr.getAsLong(),
                    ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), BH, H, N, N, hd, scale);
        }
        // the tensor-core attention at the supported head dim nearest above hd (the small test model's is 32)
        int fhd = FlashAttention.HEAD_DIMS.stream().filter(x -> x >= hd).findFirst().orElse(FlashAttention.HEAD_DIMS.getLast());
        FlashAttention.Shape fa = new FlashAttention.Shape(B, H, N, N, fhd);
        long fldo = (long) H * fhd;
        FlashAttention.Forward ff = new FlashAttention.Forward(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                ptr.getAsLong(), fldo, ptr.getAsLong());
        k.flashAttnFwd(fa, ff);
        k.flashAttnFwdWgmma(maps, fa, ff);
        k.flashAttnBwd(fa, new FlashAttention.Backward(ff, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                ptr.getAsLong(), ptr.getAsLong()));
        // the Hopper backward at the problem's head dim where it takes it (any multiple of 8 up to 128), else its widest
        int whd = FlashAttention.wgmmaBackwardTakes(new FlashAttention.Shape(B, H, N, N, hd)) ? hd
                : FlashAttention.WGMMA_BWD_MAX_HEAD_DIM;
        FlashAttention.Forward wf = new FlashAttention.Forward(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                ptr.getAsLong(), (long) H * whd, ptr.getAsLong());
        k.flashAttnBwdWgmma(maps, new FlashAttention.Shape(B, H, N, N, whd), new FlashAttention.Backward(wf, ptr.getAsLong(),
                ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong()), ptr.getAsLong());
        for (boolean bf : new boolean[] {false, true}) {   // both storage-type instantiations
            k.normFwd(bf, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), T, D, true, 1e-6f);
            k.normBwdDx(bf, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), T, D, true);
            k.normBwdParams(bf, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), T, D);
            k.qknormFwd(bf, ptr.getAsLong(), rows, M, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                    ptr.getAsLong(), ptr.getAsLong(), B, N, H, hd, false, 1e-6f);
            k.qknormBwd(bf, ptr.getAsLong(), rows, M, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                    ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), B, N, H, hd, false);
            k.add(bf, ptr.getAsLong(), ptr.getAsLong(), n);
            k.scale(bf, ptr.getAsLong(), 0.5f, n);
            k.geluFwd(bf, ptr.getAsLong(), ptr.getAsLong(), (long) T * M, gk);
            k.geluBwd(bf, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), (long) T * M, gk);
            k.geluBwdCols(bf, ptr.getAsLong(), rows, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), D + M, D, T, M, gk,
                    ptr.getAsLong());
            k.broadcastRows(bf, ptr.getAsLong(), ptr.getAsLong(), T, D);
            k.colSum(bf, false, ptr.getAsLong(), ptr.getAsLong(), T, D, D);
            k.toHeads(bf, ptr.getAsLong(), ptr.getAsLong(), rows, M, B, N, H, hd);
            k.fromHeads(bf, ptr.getAsLong(), D, 0, ptr.getAsLong(), B, N, H, hd);
            k.sumSquares(bf, ptr.getAsLong(), ptr.getAsLong(), n);
            k.loss(bf, ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), B, C, 0);
        }
        k.colSum(true, true, ptr.getAsLong(), ptr.getAsLong(), T, D, D);
        k.geluColsBf16(ptr.getAsLong(), D + M, ptr.getAsLong(), rows, ptr.getAsLong(), T, M, gk);
        for (boolean bf16 : new boolean[] {false, true}) {
            k.im2col(ptr.getAsLong(), bf16, ptr.getAsLong(), B, p.channels(), p.image(), p.patch());
            k.posGrad(ptr.getAsLong(), ptr.getAsLong(), bf16, B, (long) N * D);
        }
        k.adamw(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), n,
                1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 1f, 0.1f, 0.001f);
        k.adamwScalars(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), 1f, 0.9f, 0.999f);
        int chunks = Kernels.adamwChunks(new long[] {0}, new long[] {n}, new float[] {0.05f}).length / Kernels.ADAMW_CHUNK_INTS;
        k.adamwMulti(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                chunks, ptr.getAsLong(), 0.9f, 0.999f, 1e-8f);
        k.adamwMultiF32Copy(ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(), ptr.getAsLong(),
                ptr.getAsLong(), chunks, ptr.getAsLong(), 0.9f, 0.999f, 1e-8f);
        k.toBf16(ptr.getAsLong(), ptr.getAsLong(), n);
        k.fromBf16(ptr.getAsLong(), ptr.getAsLong(), n);
        k.roundBf16(ptr.getAsLong(), n);
        k.zero16(ptr.getAsLong(), n);
        k.fillUniform(ptr.getAsLong(), n, 42L, -1f, 1f);
    }

    /** A Hopper runtime that only encodes tensor maps (as zeros): what recording a Hopper kernel's launch needs. */
    static DeviceRuntime zeroTensorMaps() {
        return (DeviceRuntime) java.lang.reflect.Proxy.newProxyInstance(LaunchTable.class.getClassLoader(),
                new Class<?>[] {DeviceRuntime.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "encodeTensorMap" -> new byte[TensorMapEncoder.BYTES];
                    case "hopper" -> true;
                    case "maxActiveClusters" -> 1;   // the grid does not matter here, the block's resources do
                    case "description" -> "recording launcher";
                    default -> throw new UnsupportedOperationException("LaunchTable's runtime only encodes tensor maps");
                });
    }

    /** The problem whose launches bound every kernel's resources: head dim at its limit. */
    public static Problem largestSharedMemory() {
        return new Problem(2, 64, 16, 3, 2 * Kernels.MAX_HEAD_DIM, 2, 4 * Kernels.MAX_HEAD_DIM, 10);
    }

    /**
     * Prints "kernel threads_per_block dynamic_shared_bytes images" for every kernel, the largest over
     * its launches on {@link #largestSharedMemory()}, images "sm_90a" for a Hopper-only kernel, else
     * "any": the input of check-resources.sh.
     */
    public static void main(String[] args) {
        Map<String, long[]> byKernel = new TreeMap<>();
        for (Launch l : record(largestSharedMemory()))
            byKernel.merge(l.kernel(), new long[] {l.threads(), l.sharedBytes()},
                    (a, b) -> new long[] {Math.max(a[0], b[0]), Math.max(a[1], b[1])});
        byKernel.forEach((name, v) -> System.out.println(String.format(Locale.ROOT, "%s %d %d %s", name, v[0], v[1],
                Kernels.SM90A_ONLY.contains(name) ? "sm_90a" : "any")));
    }
}
