package vit22b.kernels;

import java.util.List;

/**
 * What the tensor-core flash attention (src/main/cuda/attention_bf16.cu; {@link Kernels#flashAttnFwd},
 * {@link Kernels#flashAttnBwd}; on Hopper attention_wgmma.cu and attention_wgmma_bwd.cu,
 * {@link Kernels#flashAttnFwdWgmma}, {@link Kernels#flashAttnBwdWgmma}) takes, as small records, and its launch constants, mirrored from
 * the kernel source's #defines (KernelSignaturesTest checks they agree). Addresses are raw device
 * addresses. softmax(q k^T / sqrt(hd)) v, no mask; bf16 inputs, out, dq, dk, dv; fp32 lse, delta.
 */
public final class FlashAttention {
    private FlashAttention() {}

    /** ATT_THREADS (4 warps), ATT_BQ query rows per fwd/dq block, ATT_BKV key rows per dkdv block. */
    public static final int THREADS = 128, QUERY_ROWS = 64, KEY_ROWS = 64;
    /** ATT_FWD_KEYS (hd <= 128) and ATT_FWD_KEYS_256: keys per forward tile. */
    public static final int FWD_KEYS = 64, FWD_KEYS_256 = 32;
    /** ATT_BWD_TILE (hd 64) and ATT_BWD_TILE_WIDE (hd >= 128): keys per dq tile, queries per dkdv tile. */
    public static final int BWD_TILE = 32, BWD_TILE_WIDE = 16;
    /** ATT_DKDV_COLS: dk/dv columns per dkdv block at most (hd 256 runs two blocks per key block). */
    public static final int DKDV_COLS = 128;
    /** The head dims the mma.sync kernels are instantiated for. */
    public static final List<Integer> HEAD_DIMS = List.of(64, 128, 256);

    /**
     * attention_wgmma.cu (the Hopper forward, {@link Kernels#flashAttnFwdWgmma}): ATW_BQ queries per
     * block (two consumer warpgroups of 64 rows), ATW_THREADS (a producer and two consumer
     * warpgroups), ATW_STAGES K/V ring depth, ATW_BOX_COLS columns per TMA box (128 bytes, the 128B
     * swizzle span), ATW_KEYS_NARROW keys per tile at hd <= 128 and ATW_KEYS_WIDE at hd 256.
     */
    public static final int WGMMA_QUERY_ROWS = 128, WGMMA_THREADS = 384, WGMMA_STAGES = 2, WGMMA_BOX_COLS = 64,
            WGMMA_KEYS_NARROW = 128, WGMMA_KEYS_WIDE = 64;
    /**
     * The Hopper kernels' head dims: multiples of attention_common.cuh's ATT_WGMMA_HD_STEP (TMA's 16-byte rows) up to
     * ATW_HD_MAX (forward) and AWB_HD_MAX (backward: hd 256's dK and dV accumulators would not fit the
     * registers). Each runs at {@link #wgmmaPaddedHeadDim} with TMA zero-filling the columns past hd.
     */
    public static final int WGMMA_HEAD_DIM_STEP = 8, WGMMA_MAX_HEAD_DIM = 256, WGMMA_BWD_MAX_HEAD_DIM = 128;

    /** attention_common.cuh's ATT_WGMMA_HD_PAD: the instantiation (64, 128 or 256) a Hopper kernel runs head dim hd at. */
    public static int wgmmaPaddedHeadDim(int hd) { return hd <= 64 ? 64 : hd <= 128 ? 128 : 256; }

    /**
     * attention_wgmma_bwd.cu (the Hopper backward, {@link Kernels#flashAttnBwdWgmma}): AWB_BK keys per
     * block, AWB_BQ queries per ring stage, AWB_STAGES ring depth, AWB_THREADS (a producer and two
     * consumer warpgroups).
     */
    public static final int WGMMA_BWD_KEYS = 128, WGMMA_BWD_QUERIES = 64, WGMMA_BWD_STAGES = 2, WGMMA_BWD_THREADS = 384;
    /** AWB_DQ_COLS: fp32 columns of dq's reduce-add boxes (one 128-byte swizzle row). */
    public static final int WGMMA_BWD_DQ_COLS = 32;

    /**
     * AWB_SMEM at the padded head dim p = {@link #wgmmaPaddedHeadDim}(hd): k, v [WGMMA_BWD_KEYS][p] and
     * P^T, dS^T [WGMMA_BWD_KEYS][WGMMA_BWD_QUERIES] bf16, two dq tiles [WGMMA_BWD_QUERIES][64] fp32, the
     * stages of q, dout [WGMMA_BWD_QUERIES][p] bf16 and 1 KB of lse and delta, 1 KB of barriers, 1 KB to align.
     */
    static int wgmmaBwdSmem(int hd) {
        int p = wgmmaPaddedHeadDim(hd);
        return 2 * WGMMA_BWD_KEYS * p * 2 + 2 * WGMMA_BWD_KEYS * WGMMA_BWD_QUERIES * 2 + 2 * WGMMA_BWD_QUERIES * 64 * 4
                + WGMMA_BWD_STAGES * (2 * WGMMA_BWD_QUERIES * p * 2 + 1024) + 2048;
    }

    /** Whether the Hopper kernels take head dim hd at all (forward: {@code max} 256; backward: 128). */
    static boolean wgmmaHeadDim(int hd, int max) { return hd >= WGMMA_HEAD_DIM_STEP && hd <= max && hd % WGMMA_HEAD_DIM_STEP == 0; }

    /** Whether attn_fwd_wgmma takes {@code sh}'s head dim: a multiple of 8 up to 256. */
    public static boolean wgmmaForwardTakes(Shape sh) { return wgmmaHeadDim(sh.hd(), WGMMA_MAX_HEAD_DIM); }

    /**
     * Whether attn_bwd_wgmma takes {@code sh}: hd a multiple of 8 up to 128, and every q, k, dout row
     * index below 2^31 (TMA's coordinates are 32-bit; a tile may reach one tile past the last row).
     */
    public static boolean wgmmaBackwardTakes(Shape sh) {
        long rows = sh.bh() * Math.max(sh.nq(), sh.nk()) + WGMMA_BWD_KEYS;
        return wgmmaHeadDim(sh.hd(), WGMMA_BWD_MAX_HEAD_DIM) && rows <= Integer.MAX_VALUE;
    }

    static int fwdKeys(int hd) { return hd <= 128 ? FWD_KEYS : FWD_KEYS_256; }
    /** ATW_KEYS(ATT_WGMMA_HD_PAD(hd)): keys per K/V tile of the Hopper forward. */
    static int wgmmaKeys(int hd) { return wgmmaPaddedHeadDim(hd) <= 128 ? WGMMA_KEYS_NARROW : WGMMA_KEYS_WIDE; }
    /**
     * ATW_SMEM(ATT_WGMMA_HD_PAD(hd)), with p the padded head dim: q [WGMMA_QUERY_ROWS][p], WGMMA_STAGES x (K, V)
     * [wgmmaKeys][p] bf16, 1 + 4 x stages mbarriers, 1024 to align.
     */
    static int wgmmaSmem(int hd) {
        int p = wgmmaPaddedHeadDim(hd);
        return WGMMA_QUERY_ROWS * p * 2 + 2 * WGMMA_STAGES * wgmmaKeys(hd) * p * 2 + 8 * (1 + 4 * WGMMA_STAGES) + 1024;
    }
    static int bwdTile(int hd) { return hd <= 64 ? BWD_TILE : BWD_TILE_WIDE; }
    static int dkdvSplits(int hd) { return hd / Math.min(hd, DKDV_COLS); }

    /** ATT_SMEM_FWD: q [QUERY_ROWS][hd] and two stages of k, v [fwdKeys][hd], bf16. */
    static int fwdSmem(int hd) { return (QUERY_ROWS + 4 * fwdKeys(hd)) * hd * 2; }
    /** ATT_SMEM_DQ: q, dout [QUERY_ROWS][hd] and two stages of k, v [bwdTile][hd]. */
    static int dqSmem(int hd) { return (2 * QUERY_ROWS + 4 * bwdTile(hd)) * hd * 2; }
    /** ATT_SMEM_DKDV: k, v [KEY_ROWS][hd], two stages of q, dout [bwdTile][hd] and of lse, delta [bwdTile] fp32. */
    static int dkdvSmem(int hd) { return (2 * KEY_ROWS + 4 * bwdTile(hd)) * hd * 2 + 4 * bwdTile(hd) * 4; }

    /** batch x heads attention of nq queries over nk keys at head dim hd (what each kernel takes: its check). */
    public record Shape(int batch, int heads, int nq, int nk, int hd) {
        public long bh() { return (long) batch * heads; }
        public float scale() { return (float) (1 / Math.sqrt(hd)); }
    }

    /**
     * Forward tensors: bf16 q (B, H, Nq, hd), k and v (B, H, Nk, hd) head-major; out bf16
     * token-major (B*Nq, ldo), head h at columns [h*hd, (h+1)*hd); lse fp32 (B, H, Nq).
     */
    public record Forward(long q, long k, long v, long out, long ldo, long lse) {}

    /**
     * Backward tensors: the forward's (its out and lse as it wrote them), dout bf16 laid out like
     * out, delta fp32 (B, H, Nq) scratch, and the bf16 head-major gradients dq (B, H, Nq, hd), dk
     * and dv (B, H, Nk, hd), accumulated (+=, as Backend.attentionBackward's contract says).
     */
    public record Backward(Forward fwd, long dout, long delta, long dq, long dk, long dv) {}
}
