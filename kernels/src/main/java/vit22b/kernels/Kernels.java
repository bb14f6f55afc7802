package vit22b.kernels;

/**
 * Typed launch wrappers, one per kernel of the fatbin, with the launch shape each kernel's
 * source comment documents. Pointers are raw device addresses (0 for null); every launch
 * goes to {@code stream}. Argument order and types mirror the CUDA signatures exactly.
 */
public final class Kernels {
    /** attention.cu's ROWS (warps, query rows, per block) and TILE (keys per shared-memory tile); hd limit. */
    public static final int ATTN_ROWS = 8, ATTN_TILE = 32, MAX_HEAD_DIM = 256;
    /** gemm.cu's BM x BN block tile and its __launch_bounds__ threads. */
    public static final int GEMM_TILE_M = 128, GEMM_TILE_N = 128, GEMM_THREADS = 256;
    /** gemm_bf16_mma.cu's MMA_BM x MMA_BN block tile, MMA_BK step, MMA_STAGES pipeline depth, MMA_THREADS. */
    public static final int MMA_TILE_M = 128, MMA_TILE_N = 128, MMA_TILE_K = 32, MMA_STAGES = 4, MMA_THREADS = 256;
    /** gemm_bf16_mma's dynamic shared memory: MMA_STAGES stages of an A and a B tile of bf16. */
    public static final int MMA_SMEM_BYTES = MMA_STAGES * (MMA_TILE_M + MMA_TILE_N) * MMA_TILE_K * 2;
    /**
     * gemm_bf16_wgmma.cu's WG_BM x WG_BN block tile, WG_BK k-tile (one 128-byte swizzle row of bf16),
     * WG_STAGES ring depth, WG_THREADS (a producer and two consumer warpgroups).
     */
    public static final int WGMMA_TILE_M = 128, WGMMA_TILE_N = 256, WGMMA_TILE_K = 64, WGMMA_STAGES = 4, WGMMA_THREADS = 384;
    /** The MN-major operands' TMA box side (64 bf16 = the 128-byte swizzle span). */
    static final int WGMMA_BOX = 64;
    /** gemm_bf16_wgmma.cu's WG_CLUSTER: CTAs per cluster (along M, sharing B); grid.x is a multiple of it. */
    public static final int WGMMA_CLUSTER = 2;
    /** Kernels whose only real image is sm_90a (the sm_80 one is a trap the host never launches): check-resources.sh skips those. */
    public static final java.util.Set<String> SM90A_ONLY = java.util.Set.of("gemm_bf16_wgmma", "gemm_bf16_wgmma_qk", "attn_fwd_wgmma",
            "attn_bwd_wgmma");
    /**
     * gemm_bf16_wgmma's epilogue staging (WG_EPI_*): per consumer one sub-tile of WGMMA_EPI_ROWS rows of
     * WGMMA_EPI_ROW_BYTES (one 128-byte swizzle span: 64 bf16 or 32 fp32 columns, C's TMA box), then its
     * 128 threads' private slots of 16 fp32.
     */
    public static final int WGMMA_EPI_ROWS = 64, WGMMA_EPI_ROW_BYTES = 128, WGMMA_EPI_PRIV_BYTES = 128 * 16 * Float.BYTES,
            WGMMA_EPI_BYTES = 2 * (WGMMA_EPI_ROWS * WGMMA_EPI_ROW_BYTES + WGMMA_EPI_PRIV_BYTES);
    /**
     * gemm_bf16_wgmma's dynamic shared memory: the ring, the epilogue's staging, the ring's full and empty
     * mbarriers, 1024 bytes to align the ring (230,464 of a Hopper block's 232,448).
     */
    public static final int WGMMA_SMEM_BYTES = WGMMA_STAGES * (WGMMA_TILE_M + WGMMA_TILE_N) * WGMMA_TILE_K * 2
            + WGMMA_EPI_BYTES + 2 * WGMMA_STAGES * 8 + 1024;
    /** gemm_bf16_wgmma_qk's ring depth (WG_QK_STAGES): 3 stages leave room to stage both consumers' whole tiles. */
    public static final int WGMMA_QK_STAGES = 3;
    /** gemm_bf16_wgmma_qk's dynamic shared memory: the ring, 2 consumers' 64 x 256 bf16 tiles, the mbarriers, alignment. */
    public static final int WGMMA_QK_SMEM_BYTES = WGMMA_QK_STAGES * (WGMMA_TILE_M + WGMMA_TILE_N) * WGMMA_TILE_K * 2
            + 2 * WGMMA_EPI_ROWS * WGMMA_TILE_N * 2 + 2 * WGMMA_QK_STAGES * 8 + 1024;
    private static final int EW_BLOCK = 256, EW_MAX_GRID = 65535;

    private final KernelLauncher m;
    private final DeviceStream s;

    public Kernels(KernelLauncher launcher, DeviceStream stream) {
        this.m = launcher;
        this.s = stream;
    }

    private static int cdiv(long a, long b) { return (int) Math.max(0, (a + b - 1) / b); }
    private static int ewGrid(long n) { return (int) Math.min(EW_MAX_GRID, Math.max(1, cdiv(n, EW_BLOCK))); }
    /** Row chunks for column reductions: enough blocks to fill the GPU, few atomics. */
    private static int rowChunks(long rows) { return (int) Math.max(1, Math.min(256, cdiv(rows, 64))); }

    /** See gemm.cu: C (M x N) = A (M x K) B (K x N) with strided operands and fused epilogue. */
    public void gemm(long a, long sam, long sak, long b, long sbk, long sbn, long c, long ldc,
                     int M, int N, int K, boolean accumulate, long bias, long res, long ldr, int resRows,
                     long gout, long ldg, int geluCols, long gbias, int geluKind) {
        if (M == 0 || N == 0) return;
        m.launch("gemm_f32", cdiv(N, GEMM_TILE_N), cdiv(M, GEMM_TILE_M), 1, GEMM_THREADS, 1, 1, 0, s,
                a, sam, sak, b, sbk, sbn, c, ldc, M, N, K, accumulate ? 1f : 0f,
                bias, res, ldr, Math.max(1, resRows), gout, ldg, geluCols, gbias, geluKind);
    }

    /**
     * See gemm_bf16_mma.cu: C = op(A) op(B) on tensor cores (bf16 operands, fp32 accumulation) in
     * the form {@code o.form()}, with the fused epilogue {@code e}. Any strides and alignment: where
     * A and B are 16-byte aligned with row strides of a multiple of 8 elements the tiles are copied
     * with 16-byte cp.async, else element by element ({@link #vectorLoads}). Refuses, naming the
     * fix, K < 1 and strides narrower than the rows.
     */
    public void gemmBf16Mma(MmaGemm.Operands o, MmaGemm.Epilogue e) {
        checkTensorCoreGemm("gemm_bf16_mma", o, e);
        MmaGemm.Gelu g = e.gelu();
        if (o.m() == 0 || o.n() == 0) return;
        m.launch("gemm_bf16_mma", cdiv(o.n(), MMA_TILE_N), cdiv(o.m(), MMA_TILE_M), 1, MMA_THREADS, 1, 1, MMA_SMEM_BYTES, s,
                o.form().ordinal(), vectorLoads(o) ? 1 : 0, o.a(), o.lda(), o.b(), o.ldb(), o.c(), o.ldc(), o.m(), o.n(), o.k(), e.beta(),
                e.outBf16() ? 1 : 0, e.bias(), e.res(), e.ldr(), Math.max(1, e.resRows()),
                MmaGemm.geluMode(g), g == null ? 0 : g.kind(), g == null ? 0 : g.col0(),
                g == null ? 0 : g.cols(), g == null ? 0L : g.aux(), g == null ? 0L : g.ld(), g == null ? 0L : g.bias(), e.dbias());
    }

    /**
     * What both tensor-core GEMMs refuse: K < 1, strides narrower than the rows, GELU columns outside N
     * (gemm_bf16_wgmma also needs what TMA moves: 16-byte rows and addresses).
     */
    private static void checkTensorCoreGemm(String kernel, MmaGemm.Operands o, MmaGemm.Epilogue e) {
        String at = kernel + " " + o.form() + " " + o.m() + "x" + o.n() + "x" + o.k() + ": ";
        if (o.m() < 0 || o.n() < 0 || o.k() < 1)
            throw new IllegalArgumentException(at + "needs M, N >= 0 and K >= 1 (an empty sum has nothing to run)");
        if (o.lda() < o.form().aWidth(o.m(), o.k()) || o.ldb() < o.form().bWidth(o.n(), o.k()) || o.ldc() < o.n())
            throw new IllegalArgumentException(at + "strides lda=" + o.lda() + ", ldb=" + o.ldb() + ", ldc=" + o.ldc()
                    + " are narrower than the rows (A " + o.form().aWidth(o.m(), o.k()) + ", B " + o.form().bWidth(o.n(), o.k())
                    + ", C " + o.n() + ")");
        MmaGemm.Gelu g = e.gelu();
        if (g != null && (g.col0() < 0 || g.cols() < 0 || (long) g.col0() + g.cols() > o.n() || (g.cols() > 0 && g.aux() == 0)))
            throw new IllegalArgumentException(at + "GELU columns [" + g.col0() + ", " + ((long) g.col0() + g.cols())
                    + ") must lie in [0, N] and have a tensor (aux) to " + (g.backward() ? "read" : "write"));
        if (e.res() != 0 && e.resRows() < 1)
            throw new IllegalArgumentException(at + "a residual needs resRows >= 1, got " + e.resRows());
    }

    /**
     * See gemm_bf16_wgmma.cu: gemm_bf16_mma's computation (same operands, forms and fused
     * epilogue) on Hopper's TMA and wgmma; its operands reach the kernel as tensor maps from
     * {@code maps} (encoded once per map and device). Persistent, in clusters of WGMMA_CLUSTER blocks:
     * as many clusters as the device holds at once ({@link DeviceRuntime#maxActiveClusters}: the
     * driver's cuOccupancyMaxActiveClusters on a GPU), at most one per pair of output tiles, each
     * cluster walking pairs of tiles ({@link #wgmmaGrid}). C leaves through shared memory and the TMA store where
     * {@link #tmaStoresC} (its map from {@code maps} too), else element by element. Refuses what gemm_bf16_mma
     * refuses, operands TMA cannot move ({@link #vectorLoads}), and a device that is not a Hopper
     * ({@link DeviceRuntime#hopper}: wgmma is sm_90a only).
     */
    public void gemmBf16Wgmma(TensorMapCache maps, MmaGemm.Operands o, MmaGemm.Epilogue e) {
        DeviceRuntime rt = maps.device();
        checkWgmmaGemm("gemm_bf16_wgmma", rt, o, e);
        if (o.m() == 0 || o.n() == 0) return;
        MmaGemm.Form f = o.form();
        byte[] mapA = aMap(maps, o), mapB = bMap(maps, o);
        boolean tmaC = tmaStoresC(o, e);
        byte[] mapC = tmaC ? maps.encode(cMap(o, e)) : NO_MAP;
        MmaGemm.Gelu g = e.gelu();
        m.launch("gemm_bf16_wgmma", wgmmaGrid(rt, "gemm_bf16_wgmma", WGMMA_SMEM_BYTES, o), 1, 1, WGMMA_THREADS, 1, 1,
                WGMMA_SMEM_BYTES, s, f.ordinal(), mapA, mapB, mapC, tmaC ? 1 : 0, o.c(), o.ldc(), o.m(), o.n(), o.k(), e.beta(),
                e.outBf16() ? 1 : 0, e.bias(), e.res(), e.ldr(), Math.max(1, e.resRows()),
                MmaGemm.geluMode(g), g == null ? 0 : g.kind(), g == null ? 0 : g.col0(),
                g == null ? 0 : g.cols(), g == null ? 0L : g.aux(), g == null ? 0L : g.ld(), g == null ? 0L : g.bias(), e.dbias());
    }

    /**
     * See gemm_bf16_wgmma.cu's gemm_bf16_wgmma_qk: the in-projection pre = y wIn^T (form NT, bf16 pre) with
     * its whole epilogue fused: GELU forward of {@code gelu}'s columns into its aux (or none: null) and
     * {@code qk}'s QK-norm and head-major q, k, v scatter ({@link MmaGemm.QkNorm}); pre is still written
     * (backward reads it). Launched as gemm_bf16_wgmma (persistent clusters). Refuses, naming the fix,
     * what {@link #gemmBf16Wgmma} refuses and what {@link #wgmmaQkRefusal} says.
     */
    public void gemmBf16WgmmaQk(TensorMapCache maps, MmaGemm.Operands o, MmaGemm.Gelu gelu, MmaGemm.QkNorm q) {
        String refusal = wgmmaQkRefusal(o, gelu, q);   // first: it refuses a GELU backward, which the epilogue below cannot hold
        if (refusal != null)
            throw new IllegalArgumentException("gemm_bf16_wgmma_qk " + o.form() + " " + o.m() + "x" + o.n() + "x" + o.k() + ": "
                    + refusal + "; run gemmBf16Wgmma and the epilogue separately");
        MmaGemm.Epilogue e = MmaGemm.Epilogue.plain(true);
        if (gelu != null) e = e.withGelu(gelu.kind(), gelu.col0(), gelu.cols(), gelu.aux(), gelu.ld(), gelu.bias());
        DeviceRuntime rt = maps.device();
        checkWgmmaGemm("gemm_bf16_wgmma_qk", rt, o, e);
        if (o.m() == 0) return;
        m.launch("gemm_bf16_wgmma_qk", wgmmaGrid(rt, "gemm_bf16_wgmma_qk", WGMMA_QK_SMEM_BYTES, o), 1, 1, WGMMA_THREADS, 1, 1,
                WGMMA_QK_SMEM_BYTES, s, aMap(maps, o), bMap(maps, o), maps.encode(cMap(o, e)), o.c(), o.ldc(), o.m(), o.n(), o.k(), MmaGemm.geluMode(gelu),
                gelu == null ? 0 : gelu.kind(), gelu == null ? 0 : gelu.col0(), gelu == null ? 0 : gelu.cols(),
                gelu == null ? 0L : gelu.aux(), gelu == null ? 0L : gelu.ld(), gelu == null ? 0L : gelu.bias(), q.qScale(), q.kScale(),
                q.q(), q.k(), q.v(), q.stats(), q.col0(), q.tokens(), q.heads(), q.headDim(), q.centered() ? 1 : 0, q.eps());
    }

    /**
     * Why gemm_bf16_wgmma_qk does not take this in-projection (null when it does), beyond what gemmBf16Wgmma
     * refuses: a form other than NT, pre not 16-byte aligned with rows of a multiple of 8 (the TMA store), a
     * GELU that is backward or not on whole 8-column chunks of a 16-byte aligned output, a head that does not
     * lie in one tile ({@link MmaGemm#qkFits}), q, k, v outside N or M not a whole number of images, and
     * q, k, v, the scales or stats missing or off their 16-byte (stats: 8-byte) vectors. CudaBackend asks
     * before fusing; the wrapper throws it.
     */
    public static String wgmmaQkRefusal(MmaGemm.Operands o, MmaGemm.Gelu gelu, MmaGemm.QkNorm q) {
        if (o.form() != MmaGemm.Form.NT) return "the fused in-projection is form NT (pre = y wIn^T)";
        if (o.ldc() % 8 != 0 || o.c() % 16 != 0)
            return String.format("pre=0x%x must be 16-byte aligned with a row stride (%d) a multiple of 8 elements (the TMA store)",
                    o.c(), o.ldc());
        if (gelu != null && (gelu.backward() || gelu.col0() % 8 != 0 || gelu.cols() % 8 != 0 || gelu.ld() % 8 != 0
                || gelu.aux() % 16 != 0 || gelu.bias() % 16 != 0))
            return String.format("the fused GELU is forward on whole 8-column chunks into a 16-byte aligned output of 8-element "
                    + "rows: got %s columns [%d, +%d), aux=0x%x ld=%d bias=0x%x", gelu.backward() ? "backward" : "forward",
                    gelu.col0(), gelu.cols(), gelu.aux(), gelu.ld(), gelu.bias());
        if (!MmaGemm.qkFits(q.headDim(), q.col0()))
            return "head dim " + q.headDim() + " at column " + q.col0() + " does not lie in one " + WGMMA_TILE_N
                    + "-column tile (a multiple of 8 dividing " + WGMMA_TILE_N + " and q's column)";
        long D = (long) q.heads() * q.headDim();
        if (q.heads() < 1 || q.tokens() < 1 || q.col0() < 0 || o.m() % q.tokens() != 0 || q.col0() + 3 * D > o.n())
            return "QK-norm of " + q.heads() + " heads x " + q.headDim() + " from column " + q.col0() + " over images of "
                    + q.tokens() + " tokens needs q, k, v inside the N = " + o.n() + " columns and M a multiple of the tokens";
        if (q.qScale() == 0 || q.kScale() == 0 || q.q() == 0 || q.k() == 0 || q.v() == 0 || q.stats() == 0
                || ((q.qScale() | q.kScale() | q.q() | q.k() | q.v()) & 15) != 0 || q.stats() % 8 != 0)
            return String.format("the QK-norm's qScale, kScale, q, k, v (0x%x, 0x%x, 0x%x, 0x%x, 0x%x) must be 16-byte aligned "
                    + "tensors and stats (0x%x) 8-byte aligned", q.qScale(), q.kScale(), q.q(), q.k(), q.v(), q.stats());
        return null;
    }

    /**
     * grid.x of both Hopper GEMMs: persistent clusters of WGMMA_CLUSTER CTAs, each computing a pair of tiles
     * stacked along M at a time; as many clusters as the device holds at once ({@link DeviceRuntime#maxActiveClusters}:
     * the driver's cuOccupancyMaxActiveClusters on a GPU, for the kernel's own shared memory), no more than pairs.
     * Refuses a device that cannot hold one such cluster.
     */
    private static int wgmmaGrid(DeviceRuntime rt, String kernel, int smemBytes, MmaGemm.Operands o) {
        int clusters = rt.maxActiveClusters(kernel, WGMMA_CLUSTER, WGMMA_THREADS, smemBytes);
        if (clusters < 1)
            throw new CudaException(kernel + " " + o.form() + " " + o.m() + "x" + o.n() + "x" + o.k() + ": " + rt.description()
                    + " cannot co-schedule one cluster of " + WGMMA_CLUSTER + " blocks of " + WGMMA_THREADS + " threads and "
                    + smemBytes + " bytes of shared memory (cuOccupancyMaxActiveClusters = 0: another process or a partition "
                    + "may hold its SMs); free the GPU or use gemmBf16Mma");
        long pairs = (long) cdiv(o.n(), WGMMA_TILE_N) * cdiv(cdiv(o.m(), WGMMA_TILE_M), WGMMA_CLUSTER);
        return (int) (WGMMA_CLUSTER * Math.min(pairs, clusters));
    }

    // The Hopper GEMMs' operand maps: K-major A comes a whole tile of rows per box, K-major B half a tile (each
    // CTA of a cluster loads its half and multicasts it), MN-major operands in 64 x 64 boxes (128B swizzle each).
    private static byte[] aMap(TensorMapCache maps, MmaGemm.Operands o) {
        boolean aK = o.form() != MmaGemm.Form.TN;
        return maps.encode(new TensorMap2d(o.a(), aK ? o.m() : o.k(), o.form().aWidth(o.m(), o.k()), 2 * o.lda(), 2,
                aK ? WGMMA_TILE_M : WGMMA_BOX, WGMMA_BOX, TensorMap2d.Swizzle.B128));
    }

    private static byte[] bMap(TensorMapCache maps, MmaGemm.Operands o) {
        boolean bK = o.form() == MmaGemm.Form.NT;
        return maps.encode(new TensorMap2d(o.b(), bK ? o.n() : o.k(), o.form().bWidth(o.n(), o.k()), 2 * o.ldb(), 2,
                bK ? WGMMA_TILE_N / WGMMA_CLUSTER : WGMMA_BOX, WGMMA_BOX, TensorMap2d.Swizzle.B128));
    }

    /** The CUtensorMap argument of a store that does not use it (gemm_bf16_wgmma's direct-store path). */
    private static final byte[] NO_MAP = new byte[TensorMapEncoder.BYTES];

    /**
     * Whether gemm_bf16_wgmma stores C through TMA (staged in shared memory, one bulk store per 64-row
     * sub-tile): C 16-byte aligned with rows a multiple of 16 bytes, as a tensor map needs; otherwise each
     * element is stored directly (e.g. C a view at an odd column, or a row stride of 10 fp32).
     */
    public static boolean tmaStoresC(MmaGemm.Operands o, MmaGemm.Epilogue e) {
        int eb = e.outBf16() ? 2 : 4;
        return o.c() % 16 == 0 && (o.ldc() * eb) % 16 == 0;
    }

    /** C's tensor map for gemm_bf16_wgmma's TMA store: boxes of WGMMA_EPI_ROWS rows x one 128-byte swizzle span. */
    static TensorMap2d cMap(MmaGemm.Operands o, MmaGemm.Epilogue e) {
        int eb = e.outBf16() ? 2 : 4;
        return new TensorMap2d(o.c(), o.m(), o.n(), (long) eb * o.ldc(), eb, WGMMA_EPI_ROWS, WGMMA_EPI_ROW_BYTES / eb,
                TensorMap2d.Swizzle.B128);
    }

    /** What both Hopper GEMMs refuse: what gemm_bf16_mma refuses, operands TMA cannot move, a device that is not a Hopper. */
    private static void checkWgmmaGemm(String kernel, DeviceRuntime rt, MmaGemm.Operands o, MmaGemm.Epilogue e) {
        checkTensorCoreGemm(kernel, o, e);
        String at = kernel + " " + o.form() + " " + o.m() + "x" + o.n() + "x" + o.k() + ": ";
        if (o.lda() % 8 != 0 || o.ldb() % 8 != 0)   // TMA moves 16-byte rows (gemm_bf16_mma has an element-wise path)
            throw new IllegalArgumentException(at + "row strides lda=" + o.lda() + ", ldb=" + o.ldb()
                    + " must be multiples of 8 elements (16-byte rows for TMA); pad the rows or use gemmBf16Mma");
        if (o.a() % 16 != 0 || o.b() % 16 != 0)
            throw new IllegalArgumentException(String.format("%sA=0x%x and B=0x%x must be 16-byte aligned for TMA "
                    + "(start operands at a multiple of 8 bf16 elements) or use gemmBf16Mma", at, o.a(), o.b()));
        requireHopper(rt, at, "gemmBf16Mma");
        long tiles = (long) cdiv(o.n(), WGMMA_TILE_N) * cdiv(o.m(), WGMMA_TILE_M);
        if (tiles > Integer.MAX_VALUE)
            throw new IllegalArgumentException(kernel + " " + o.m() + "x" + o.n() + ": " + tiles
                    + " output tiles, over the kernel's 2^31-1; split the GEMM");
    }

    /** Refuses, naming the fix, a device that does not run sm_90a (wgmma, TMA): {@code at} names the call. */
    private static void requireHopper(DeviceRuntime rt, String at, String fix) {
        if (!rt.hopper())
            throw new CudaException(at + "needs a Hopper (compute capability 9.0: wgmma is sm_90a only, neither sm_80 nor newer "
                    + "GPUs run it); " + rt.description() + " is not: use " + fix);
    }
    /** Whether gemm_bf16_mma may copy o's A and B tiles in 16-byte rows: aligned addresses, strides of 8 bf16. */
    public static boolean vectorLoads(MmaGemm.Operands o) {
        return o.lda() % 8 == 0 && o.ldb() % 8 == 0 && o.a() % 16 == 0 && o.b() % 16 == 0;
    }

    /** Dynamic shared memory of attn_fwd at head dim hd: K and V tiles [TILE][hd+1], q rows [ROWS][hd]. */
    static int attnFwdSmem(int hd) { return (2 * ATTN_TILE * (hd + 1) + ATTN_ROWS * hd) * Float.BYTES; }

    /** attn_bwd_dq: K and V tiles, then q and dout rows. */
    static int attnBwdDqSmem(int hd) { return (2 * ATTN_TILE * (hd + 1) + 2 * ATTN_ROWS * hd) * Float.BYTES; }

    /** attn_bwd_dkdv: q and dout tiles, lse and delta [TILE], then k and v rows. */
    static int attnBwdDkDvSmem(int hd) {
        return (2 * ATTN_TILE * (hd + 1) + 2 * ATTN_TILE + 2 * ATTN_ROWS * hd) * Float.BYTES;
    }

    /** Attention's flat grid.x: BH heads times row tiles of ATTN_ROWS (attention.cu says why flat). */
    static int attnGrid(int BH, int rows) {
        long blocks = (long) BH * cdiv(rows, ATTN_ROWS);
        if (blocks > Integer.MAX_VALUE)
            throw new IllegalArgumentException("attention over " + BH + " heads x " + rows + " rows needs " + blocks
                    + " blocks, over the grid's 2^31-1; split the batch");
        return (int) blocks;
    }

    /** attention.cu's entry for {@code kernel} on float or (bf16) bf16 storage: its one naming rule. */
    private static String attnKernel(String kernel, boolean bf16) {
        return !bf16 ? kernel : kernel.equals("attn_bwd_delta") ? kernel + "_bf16" : kernel + "_simt_bf16";
    }

    /**
     * See attention.cu (all four): q, k, v, out (and dout, dq, dk, dv) are float, or bf16 when
     * {@code bf16}; lse and delta fp32 in both. Any hd up to {@link #MAX_HEAD_DIM}.
     */
    public void attnFwd(boolean bf16, long out, long ldo, long lse, long q, long k, long v, int BH, int H, int Nq, int Nk,
                        int hd, float scale) {
        checkHd(hd);
        m.launch(attnKernel("attn_fwd", bf16), attnGrid(BH, Nq), 1, 1, 32 * ATTN_ROWS, 1, 1, attnFwdSmem(hd), s,
                out, ldo, lse, q, k, v, H, Nq, Nk, hd, scale);
    }

    public void attnBwdDelta(boolean bf16, long delta, long out, long dout, long ldo, int BH, int H, int Nq, int hd) {
        m.launch(attnKernel("attn_bwd_delta", bf16), attnGrid(BH, Nq), 1, 1, 32 * ATTN_ROWS, 1, 1, 0, s,
                delta, out, dout, ldo, H, Nq, hd);
    }

    /** dq += ... (accumulated: read, add in fp32, stored once). */
    public void attnBwdDq(boolean bf16, long dq, long dout, long ldo, long lse, long delta, long q, long k, long v,
                          int BH, int H, int Nq, int Nk, int hd, float scale) {
        checkHd(hd);
        m.launch(attnKernel("attn_bwd_dq", bf16), attnGrid(BH, Nq), 1, 1, 32 * ATTN_ROWS, 1, 1, attnBwdDqSmem(hd), s,
                dq, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, hd, scale);
    }

    /** dk += ..., dv += ... (accumulated as dq is). */
    public void attnBwdDkDv(boolean bf16, long dk, long dv, long dout, long ldo, long lse, long delta, long q, long k, long v,
                            int BH, int H, int Nq, int Nk, int hd, float scale) {
        checkHd(hd);
        m.launch(attnKernel("attn_bwd_dkdv", bf16), attnGrid(BH, Nk), 1, 1, 32 * ATTN_ROWS, 1, 1, attnBwdDkDvSmem(hd), s,
                dk, dv, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, hd, scale);
    }

    /**
     * See attention_bf16.cu: out = softmax(q k^T scale) v and lse on tensor cores (bf16 in and out,
     * fp32 softmax state). Refuses, naming the fix, what the kernels cannot do.
     */
    public void flashAttnFwd(FlashAttention.Shape sh, FlashAttention.Forward f) {
        mmaHeadDimCheck(sh);
        flashCheck(sh, f);
        if (sh.bh() == 0 || sh.nq() == 0) return;
        int hd = sh.hd();
        m.launch("attn_fwd_bf16", flashGrid(sh, sh.nq(), FlashAttention.QUERY_ROWS, 1), 1, 1, FlashAttention.THREADS, 1, 1,
                FlashAttention.fwdSmem(hd), s, f.out(), f.ldo(), f.lse(), f.q(), f.k(), f.v(), sh.heads(), sh.nq(), sh.nk(), hd,
                sh.scale());
    }

    /**
     * See attention_wgmma.cu: {@link #flashAttnFwd}'s computation (same tensors, layouts, rounding)
     * on Hopper's TMA and wgmma, FlashAttention-3's structure; q, k and v reach the kernel as tensor
     * maps over their (B*H*N, hd) rows from {@code maps}. Takes any head dim that is a multiple of 8
     * up to 256 ({@link FlashAttention#wgmmaForwardTakes}; run at the padded one, TMA zero-filling the
     * columns past hd); refuses other head dims, what flashAttnFwd refuses besides its head dims,
     * and a GPU other than compute capability 9.0 (wgmma is sm_90a only).
     */
    public void flashAttnFwdWgmma(TensorMapCache maps, FlashAttention.Shape sh, FlashAttention.Forward f) {
        DeviceRuntime rt = maps.device();
        if (!FlashAttention.wgmmaForwardTakes(sh))
            throw new IllegalArgumentException("attn_fwd_wgmma " + sh + ": head_dim must be a multiple of "
                    + FlashAttention.WGMMA_HEAD_DIM_STEP + " up to " + FlashAttention.WGMMA_MAX_HEAD_DIM
                    + " (TMA's 16-byte rows); use attention.cu's kernels (attnFwd, any head dim)");
        flashCheck(sh, f);
        requireHopper(rt, "attn_fwd_wgmma: ", "flashAttnFwd");
        int grid = flashGrid(sh, sh.nq(), FlashAttention.WGMMA_QUERY_ROWS, 1);
        if (grid == 0) return;
        int hd = sh.hd(), keys = FlashAttention.wgmmaKeys(hd);
        byte[] mapQ = maps.encode(attnRows(f.q(), sh.bh() * sh.nq(), hd, FlashAttention.WGMMA_QUERY_ROWS));
        byte[] mapK = maps.encode(attnRows(f.k(), sh.bh() * sh.nk(), hd, keys));
        byte[] mapV = maps.encode(attnRows(f.v(), sh.bh() * sh.nk(), hd, keys));
        m.launch("attn_fwd_wgmma", grid, 1, 1, FlashAttention.WGMMA_THREADS, 1, 1, FlashAttention.wgmmaSmem(hd), s,
                f.out(), f.ldo(), f.lse(), mapQ, mapK, mapV, sh.heads(), sh.nq(), sh.nk(), hd, sh.scale());
    }

    /**
     * A head-major bf16 tensor's rows x hd as one TMA map: boxes of boxRows x 64 columns, 128B swizzle
     * (columns of a box past hd are TMA's zeros: the kernels' padded head dim).
     */
    private static TensorMap2d attnRows(long address, long rows, int hd, int boxRows) {
        return new TensorMap2d(address, rows, hd, 2L * hd, 2, boxRows, FlashAttention.WGMMA_BOX_COLS, TensorMap2d.Swizzle.B128);
    }

    /**
     * See attention_bf16.cu: the backward as three launches, no atomics: delta = rowsum(dout out)
     * (attention.cu's bf16 delta kernel), then dq (per query block) and dk, dv (per key block),
     * bf16, accumulated (+=).
     */
    public void flashAttnBwd(FlashAttention.Shape sh, FlashAttention.Backward b) {
        FlashAttention.Forward f = b.fwd();
        mmaHeadDimCheck(sh);
        flashBwdCheck(sh, b);
        if (sh.bh() == 0 || sh.nq() == 0) return;
        int hd = sh.hd(), H = sh.heads(), Nq = sh.nq(), Nk = sh.nk();
        float scale = sh.scale();
        attnBwdDelta(true, b.delta(), f.out(), b.dout(), f.ldo(), Math.toIntExact(sh.bh()), H, Nq, hd);
        m.launch("attn_bwd_dq_bf16", flashGrid(sh, Nq, FlashAttention.QUERY_ROWS, 1), 1, 1, FlashAttention.THREADS, 1, 1,
                FlashAttention.dqSmem(hd), s, b.dq(), b.dout(), f.ldo(), f.lse(), b.delta(), f.q(), f.k(), f.v(), H, Nq, Nk, hd, scale);
        m.launch("attn_bwd_dkdv_bf16", flashGrid(sh, Nk, FlashAttention.KEY_ROWS, FlashAttention.dkdvSplits(hd)), 1, 1,
                FlashAttention.THREADS, 1, 1, FlashAttention.dkdvSmem(hd), s, b.dk(), b.dv(), b.dout(), f.ldo(), f.lse(),
                b.delta(), f.q(), f.k(), f.v(), H, Nq, Nk, hd, scale);
    }

    /**
     * See attention_wgmma_bwd.cu: flashAttnBwd's computation on Hopper's TMA and wgmma, one pass per
     * key block: delta first (attention.cu's bf16 delta kernel), then attn_bwd_wgmma, whose dq
     * parts are summed by TMA reduce-adds into {@code dqAcc} (fp32 scratch of bh x nq x hd, zeroed here),
     * then attn_bwd_dq_add adds it into dq; dk and dv are accumulated by the kernel itself. Takes
     * any head dim that is a multiple of 8 up to 128 (run at the padded one, 64 or 128; dout's map
     * spans all heads, attention_wgmma_bwd.cu says why its boxes may reach the next head's columns).
     * Refuses a shape {@link FlashAttention#wgmmaBackwardTakes} does not take, what flashAttnBwd
     * refuses besides its head dims, and a GPU other than compute capability 9.0.
     */
    public void flashAttnBwdWgmma(TensorMapCache maps, FlashAttention.Shape sh, FlashAttention.Backward b, long dqAcc) {
        DeviceRuntime rt = maps.device();
        FlashAttention.Forward f = b.fwd();
        if (!FlashAttention.wgmmaBackwardTakes(sh))
            throw new IllegalArgumentException("attn_bwd_wgmma " + sh + ": needs head_dim a multiple of "
                    + FlashAttention.WGMMA_HEAD_DIM_STEP + " up to " + FlashAttention.WGMMA_BWD_MAX_HEAD_DIM
                    + " and under 2^31 q, k rows in all; use flashAttnBwd (hd 256) or attention.cu's kernels");
        flashBwdCheck(sh, b);
        if (dqAcc % 16 != 0)
            throw new IllegalArgumentException(String.format("attn_bwd_wgmma: the dq scratch 0x%x must be 16-byte aligned", dqAcc));
        requireHopper(rt, "attn_bwd_wgmma: ", "flashAttnBwd");
        if (sh.bh() == 0 || sh.nq() == 0) return;
        int hd = sh.hd(), H = sh.heads(), Nq = sh.nq(), Nk = sh.nk();
        long n = sh.bh() * Nq * hd;
        attnBwdDelta(true, b.delta(), f.out(), b.dout(), f.ldo(), Math.toIntExact(sh.bh()), H, Nq, hd);
        zero16(dqAcc, 2 * n);   // fp32 zero is all-zero bits
        int bq = FlashAttention.WGMMA_BWD_QUERIES, bk = FlashAttention.WGMMA_BWD_KEYS;
        byte[] mapQ = maps.encode(new TensorMap2d(f.q(), sh.bh() * Nq, hd, 2L * hd, 2, bq, WGMMA_BOX, TensorMap2d.Swizzle.B128));
        byte[] mapK = maps.encode(new TensorMap2d(f.k(), sh.bh() * Nk, hd, 2L * hd, 2, bk, WGMMA_BOX, TensorMap2d.Swizzle.B128));
        byte[] mapV = maps.encode(new TensorMap2d(f.v(), sh.bh() * Nk, hd, 2L * hd, 2, bk, WGMMA_BOX, TensorMap2d.Swizzle.B128));
        byte[] mapO = maps.encode(new TensorMap2d(b.dout(), (long) sh.batch() * Nq, (long) H * hd, 2 * f.ldo(), 2, bq,
                WGMMA_BOX, TensorMap2d.Swizzle.B128));
        byte[] mapDq = maps.encode(new TensorMap2d(dqAcc, sh.bh() * Nq, hd, 4L * hd, 4, bq,
                FlashAttention.WGMMA_BWD_DQ_COLS, TensorMap2d.Swizzle.B128));
        m.launch("attn_bwd_wgmma", flashGrid(sh, Nk, bk, 1), 1, 1, FlashAttention.WGMMA_BWD_THREADS, 1, 1,
                FlashAttention.wgmmaBwdSmem(hd), s, mapQ, mapK, mapV, mapO, mapDq, b.dk(), b.dv(), f.lse(), b.delta(),
                H, Nq, Nk, hd, sh.scale());
        m.launch("attn_bwd_dq_add", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, b.dq(), dqAcc, n, sh.scale());
    }

    /** What every flash backward refuses: flashCheck's, and unaligned dout, dq, dk, dv. */
    private static void flashBwdCheck(FlashAttention.Shape sh, FlashAttention.Backward b) {
        flashCheck(sh, b.fwd());
        if (b.dout() % 16 != 0 || b.dq() % 16 != 0 || b.dk() % 16 != 0 || b.dv() % 16 != 0)
            throw new IllegalArgumentException(String.format("flash attention: dout=0x%x, dq=0x%x, dk=0x%x, dv=0x%x must be "
                    + "16-byte aligned (start them at a multiple of 8 bf16 elements)", b.dout(), b.dq(), b.dk(), b.dv()));
    }

    /** The mma.sync flash kernels' head dims (their instantiations). */
    private static void mmaHeadDimCheck(FlashAttention.Shape sh) {
        if (!FlashAttention.HEAD_DIMS.contains(sh.hd()))
            throw new IllegalArgumentException("flash attention " + sh + ": head_dim must be one of " + FlashAttention.HEAD_DIMS
                    + " (the tensor-core kernels' instantiations); use attention.cu's kernels (attnFwd, any head dim) or change the head count");
    }

    /** What every flash kernel refuses besides its head dims: sizes, out's stride, alignment. */
    private static void flashCheck(FlashAttention.Shape sh, FlashAttention.Forward f) {
        String at = "flash attention " + sh + ": ";
        if (sh.batch() < 0 || sh.heads() < 0 || sh.nq() < 0 || sh.nk() < 1)
            throw new IllegalArgumentException(at + "needs batch, heads, nq >= 0 and nk >= 1 (softmax over no keys is undefined)");
        if (f.ldo() % 8 != 0 || f.ldo() < (long) sh.heads() * sh.hd())
            throw new IllegalArgumentException(at + "out's row stride ldo=" + f.ldo() + " must be a multiple of 8 "
                    + "(16-byte rows) and at least heads x hd = " + (long) sh.heads() * sh.hd());
        if (f.q() % 16 != 0 || f.k() % 16 != 0 || f.v() % 16 != 0 || f.out() % 16 != 0)
            throw new IllegalArgumentException(String.format("%sq=0x%x, k=0x%x, v=0x%x, out=0x%x must be 16-byte aligned "
                    + "(start them at a multiple of 8 bf16 elements)", at, f.q(), f.k(), f.v(), f.out()));
    }

    /** Flat grid.x: heads x row tiles x splits (attention_bf16.cu: heads outermost). */
    private static int flashGrid(FlashAttention.Shape sh, int rows, int tile, int splits) {
        long blocks = sh.bh() * cdiv(rows, tile) * splits;
        if (blocks > Integer.MAX_VALUE)
            throw new IllegalArgumentException("flash attention " + sh + " needs " + blocks
                    + " blocks, over the grid's 2^31-1; split the batch");
        return (int) blocks;
    }

    private static void checkHd(int hd) {
        if (hd > MAX_HEAD_DIM)
            throw new IllegalArgumentException("head_dim " + hd + " exceeds the attention kernels' limit of "
                    + MAX_HEAD_DIM + "; use more heads");
    }

    /**
     * The entry of a kernel templated on its storage type (norm.cu, misc.cu): the float one
     * ({@code f32Name}) or its bf16 instantiation, named with {@code _bf16} in place of a
     * trailing {@code _f32} or after the name.
     */
    static String typed(String f32Name, boolean bf16) {
        return bf16 ? f32Name.replaceFirst("_f32$", "") + "_bf16" : f32Name;
    }

    // The model's norm and element-wise kernels: bf16 selects the instantiation on bf16
    // activations and weights (statistics, parameter gradients, targets stay fp32).

    public void normFwd(boolean bf16, long out, long stats, long x, long scale, long bias, int R, int W, boolean centered, float eps) {
        m.launch(typed("norm_fwd", bf16), R, 1, 1, 256, 1, 1, 0, s, out, stats, x, scale, bias, W, centered ? 1 : 0, eps);
    }

    public void normBwdDx(boolean bf16, long dx, long dout, long x, long scale, long stats, int R, int W, boolean centered) {
        m.launch(typed("norm_bwd_dx", bf16), R, 1, 1, 256, 1, 1, 0, s, dx, dout, x, scale, stats, W, centered ? 1 : 0);
    }

    public void normBwdParams(boolean bf16, long dscale, long dbias, long dout, long x, long stats, int R, int W) {
        m.launch(typed("norm_bwd_params", bf16), cdiv(W, 32), rowChunks(R), 1, 32, 8, 1, 0, s, dscale, dbias, dout, x, stats, R, W);
    }

    public void qknormFwd(boolean bf16, long pre, long ld, int colQ, long qs, long ks, long q, long k, long v, long stats,
                          int B, int N, int H, int hd, boolean centered, float eps) {
        checkHd(hd);
        m.launch(typed("qknorm_fwd", bf16), cdiv((long) B * N * H, 8), 1, 1, 256, 1, 1, 0, s,
                pre, ld, colQ, qs, ks, q, k, v, stats, B, N, H, hd, centered ? 1 : 0, eps);
    }

    public void qknormBwd(boolean bf16, long dpre, long ld, int colQ, long pre, long dq, long dk, long dv, long qs, long ks,
                          long stats, long dqs, long dks, int B, int N, int H, int hd, boolean centered) {
        checkHd(hd);
        m.launch(typed("qknorm_bwd", bf16), cdiv((long) B * N * H, 8), 1, 1, 256, 1, 1, 0, s,
                dpre, ld, colQ, pre, dq, dk, dv, qs, ks, stats, dqs, dks, B, N, H, hd, centered ? 1 : 0);
    }

    public void add(boolean bf16, long dst, long src, long n) {
        m.launch(typed("add_f32", bf16), ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, dst, src, n);
    }

    public void scale(boolean bf16, long t, float f, long n) {
        m.launch(typed("scale_f32", bf16), ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, t, f, n);
    }

    public void geluFwd(boolean bf16, long out, long in, long n, int kind) {
        m.launch(typed("gelu_fwd", bf16), ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, out, in, n, kind);
    }

    public void geluBwd(boolean bf16, long din, long dout, long in, long n, int kind) {
        m.launch(typed("gelu_bwd", bf16), ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, din, dout, in, n, kind);
    }

    /** See misc.cu gelu_cols_bf16: gout (row stride ldg) = GELU(pre (row stride ld) + b) over mCols columns, bf16. */
    public void geluColsBf16(long gout, long ldg, long pre, long ld, long b, long T, int mCols, int kind) {
        m.launch("gelu_cols_bf16", ewGrid(T * mCols), 1, 1, EW_BLOCK, 1, 1, 0, s, gout, ldg, pre, ld, b, T, mCols, kind);
    }

    /** See misc.cu gelu_bwd_cols: writes dpre's MLP columns and adds their column sums into dbias (fp32). */
    public void geluBwdCols(boolean bf16, long dpre, long ld, long pre, long b, long dag, long ldag, int col, long T, int mCols,
                            int kind, long dbias) {
        m.launch(typed("gelu_bwd_cols", bf16), cdiv(mCols, 32), rowChunks(T), 1, 32, 8, 1, 0, s,
                dpre, ld, pre, b, dag, ldag, col, T, mCols, kind, dbias);
    }

    public void broadcastRows(boolean bf16, long dst, long src, long R, int W) {
        m.launch(typed("broadcast_rows", bf16), ewGrid(R * W), 1, 1, EW_BLOCK, 1, 1, 0, s, dst, src, R, W);
    }

    /**
     * dst (W) += column sums of src (R rows, stride ld): src of either storage type into an fp32
     * dst, or bf16 into bf16 (one row chunk: each column rounded once, misc.cu col_sum).
     */
    public void colSum(boolean srcBf16, boolean dstBf16, long dst, long src, long R, int W, long ld) {
        if (dstBf16 && !srcBf16)
            throw new IllegalArgumentException("colSum: an fp32 source into a bf16 destination has no kernel; "
                    + "sum into an fp32 destination and cast it");
        String name = dstBf16 ? "col_sum_bf16_bf16" : typed("col_sum", srcBf16);
        m.launch(name, cdiv(W, 32), dstBf16 ? 1 : rowChunks(R), 1, 32, 8, 1, 0, s, dst, src, R, W, ld);
    }

    public void toHeads(boolean bf16, long dst, long src, long ld, int col, int B, int N, int H, int hd) {
        m.launch(typed("to_heads", bf16), ewGrid((long) B * N * H * hd), 1, 1, EW_BLOCK, 1, 1, 0, s, dst, src, ld, col, B, N, H, hd);
    }

    public void fromHeads(boolean bf16, long dst, long ld, int col, long src, int B, int N, int H, int hd) {
        m.launch(typed("from_heads", bf16), ewGrid((long) B * N * H * hd), 1, 1, EW_BLOCK, 1, 1, 0, s, dst, ld, col, src, B, N, H, hd);
    }

    /** cols (B*G*G, C*P*P) from fp32 images; cols bf16 (each element rounded once) when colsBf16, else fp32. */
    public void im2col(long cols, boolean colsBf16, long img, int B, int C, int S, int P) {
        long n = (long) B * (S / P) * (S / P) * C * P * P;
        m.launch(colsBf16 ? "im2col_bf16" : "im2col", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, cols, img, B, C, S, P);
    }

    /** dpos (fp32) += the batch sum of dout, bf16 when doutBf16, else fp32. */
    public void posGrad(long dpos, long dout, boolean doutBf16, int B, long nd) {
        m.launch(doutBf16 ? "pos_grad_bf16" : "pos_grad", ewGrid(nd), 1, 1, EW_BLOCK, 1, 1, 0, s, dpos, dout, B, nd);
    }

    /** Adds sum t^2 into the double at {@code out}; t of either storage type. */
    public void sumSquares(boolean bf16, long out, long t, long n) {
        m.launch(typed("sum_squares", bf16), (int) Math.min(1024, Math.max(1, cdiv(n, EW_BLOCK))), 1, 1, EW_BLOCK, 1, 1, 0, s, out, t, n);
    }

    /**
     * Adds the mean loss into the double at {@code loss}; writes dlogits. kind 0 sigmoid, 1 softmax.
     * bf16: logits and dlogits bf16, targets fp32.
     */
    public void loss(boolean bf16, long loss, long dlogits, long logits, long targets, int B, int C, int kind) {
        m.launch(typed("loss_fwd_bwd", bf16), B, 1, 1, 256, 1, 1, 0, s, loss, dlogits, logits, targets, B, C, kind);
    }

    public void adamw(long p, long g, long mm, long v, long n, float lr, float b1, float b2, float eps, float wd,
                      float gscale, float bc1, float bc2) {
        m.launch("adamw_f32", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, p, g, mm, v, n, lr, b1, b2, eps, wd, gscale, bc1, bc2);
    }

    /** See misc.cu adamw_scalars: a step's clip scale and bias corrections into hp, on the device. */
    public void adamwScalars(long hp, long step, long sumSquares, float clip, float b1, float b2) {
        m.launch("adamw_scalars", 1, 1, 1, 32, 1, 1, 0, s, hp, step, sumSquares, clip, b1, b2);
    }

    /**
     * The multi-tensor AdamW's chunk length in elements: a block of misc.cu's adamw_multi updates
     * one chunk at a time (16 elements per thread of 256, four float4 each).
     */
    public static final int ADAMW_CHUNK = 4096;
    /** Ints per entry of the chunk table (misc.cu's AdamwChunk: offset low and high word, size, decay's bits). */
    public static final int ADAMW_CHUNK_INTS = 4;

    /**
     * misc.cu's AdamwChunk table for decay ranges (range i: {@code sizes[i]} elements from
     * {@code offsets[i]} with decay {@code decays[i]}): each range cut at multiples of
     * {@link #ADAMW_CHUNK}, so every chunk but a range's first starts 16-byte aligned. Built once
     * per range list; the caller uploads it (little-endian ints).
     */
    public static int[] adamwChunks(long[] offsets, long[] sizes, float[] decays) {
        if (offsets.length != sizes.length || sizes.length != decays.length)
            throw new IllegalArgumentException("adamwChunks: " + offsets.length + " offsets, " + sizes.length + " sizes, "
                    + decays.length + " decays; give one of each per range");
        int count = 0;
        for (int r = 0; r < offsets.length; r++) {
            if (offsets[r] < 0 || sizes[r] < 0)
                throw new IllegalArgumentException("adamwChunks: range " + r + " at " + offsets[r] + " of " + sizes[r]
                        + " elements; offsets and sizes must be >= 0");
            if (sizes[r] > 0) count = Math.addExact(count, Math.toIntExact((offsets[r] + sizes[r] - 1) / ADAMW_CHUNK - offsets[r] / ADAMW_CHUNK + 1));
        }
        int[] t = new int[count * ADAMW_CHUNK_INTS];
        int c = 0;
        for (int r = 0; r < offsets.length; r++)
            for (long o = offsets[r], end = offsets[r] + sizes[r]; o < end; c++) {
                long next = Math.min(end, (o / ADAMW_CHUNK + 1) * ADAMW_CHUNK);
                t[c * ADAMW_CHUNK_INTS] = (int) o;
                t[c * ADAMW_CHUNK_INTS + 1] = (int) (o >>> 32);
                t[c * ADAMW_CHUNK_INTS + 2] = (int) (next - o);
                t[c * ADAMW_CHUNK_INTS + 3] = Float.floatToRawIntBits(decays[r]);
                o = next;
            }
        return t;
    }

    /**
     * See misc.cu adamw_multi: one AdamW update of flat fp32 buffers p, g, m, v over the
     * {@code nchunks} entries of the chunk table {@code chunks} ({@link #adamwChunks}), step scalars
     * from hp ({@link #adamwScalars}); writes each updated master rounded to bf16 into the bf16
     * buffer {@code copy} unless it is 0.
     */
    public void adamwMulti(long p, long g, long mm, long v, long copy, long chunks, int nchunks, long hp,
                           float b1, float b2, float eps) {
        if (nchunks == 0) return;
        m.launch("adamw_multi", Math.min(nchunks, EW_MAX_GRID), 1, 1, EW_BLOCK, 1, 1, 0, s,
                p, g, mm, v, copy, chunks, nchunks, hp, b1, b2, eps);
    }

    /** {@link #adamwMulti} writing the copy as float32 holding bf16 values (misc.cu adamw_multi_f32copy); copy not 0. */
    public void adamwMultiF32Copy(long p, long g, long mm, long v, long copy, long chunks, int nchunks, long hp,
                                  float b1, float b2, float eps) {
        if (copy == 0) throw new IllegalArgumentException("adamwMultiF32Copy needs a copy; without one call adamwMulti");
        if (nchunks == 0) return;
        m.launch("adamw_multi_f32copy", Math.min(nchunks, EW_MAX_GRID), 1, 1, EW_BLOCK, 1, 1, 0, s,
                p, g, mm, v, copy, chunks, nchunks, hp, b1, b2, eps);
    }

    /** dst (bf16) = src (fp32), n elements; round to nearest even, NaN stays NaN (bf16.cuh). */
    public void toBf16(long dst, long src, long n) {
        m.launch("f32_to_bf16", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, dst, src, n);
    }

    /** dst (fp32) = src (bf16), n elements; exact. */
    public void fromBf16(long dst, long src, long n) {
        m.launch("bf16_to_f32", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, dst, src, n);
    }

    /** t (fp32) = t rounded to the nearest bf16 value (as f32_to_bf16 rounds), n elements, in place. */
    public void roundBf16(long t, long n) {
        m.launch("round_bf16_f32", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, t, n);
    }

    /** t = 0 for n 16-bit (bf16) elements. */
    public void zero16(long t, long n) {
        m.launch("zero_u16", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, t, n);
    }

    /** t = uniform [lo, hi) from a counter-based hash of (seed, index): benchmark data made on the GPU. */
    public void fillUniform(long t, long n, long seed, float lo, float hi) {
        m.launch("fill_uniform", ewGrid(n), 1, 1, EW_BLOCK, 1, 1, 0, s, t, n, seed, lo, hi);
    }

    /** See misc.cu gemm_epilogue: gemm_f32's epilogue applied to a C computed elsewhere (cuBLASLt). */
    public void gemmEpilogue(long c, long ldc, int M, int N, long bias, long res, long ldr, int resRows,
                             long gout, long ldg, int geluCols, long gbias, int geluKind) {
        m.launch("gemm_epilogue", ewGrid((long) M * N), 1, 1, EW_BLOCK, 1, 1, 0, s,
                c, ldc, M, N, bias, res, ldr, Math.max(1, resRows), gout, ldg, geluCols, gbias, geluKind);
    }
}
