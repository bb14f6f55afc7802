// Warp-specialised bf16 GEMM for Hopper (sm_90a): TMA + mbarrier pipeline feeding wgmma.
//   C (M x N) = op(A) (M x K) op(B) (K x N), bf16 operands, fp32 accumulation, in the three forms
//   of gemm_bf16_mma.cu (MMA_NT: A[m*lda + k], B[n*ldb + k]; MMA_NN: A[m*lda + k], B[k*ldb + n];
//   MMA_TN: A[k*lda + m], B[k*ldb + n]) and with its fused epilogue (gemm_common.cuh: beta, bias,
//   residual, GELU forward/backward columns, bf16 or fp32 C) and bias-gradient row sums (dbias[m] =
//   (beta * dbias[m] if beta != 0) + sum_k op(A)(m,k), by the blocks of the first column tile).
// Operands arrive as TMA tensor maps (Kernels.gemmBf16Wgmma builds them, 128B swizzle, zero fill):
//   K-major A (NT, NN): rows M, cols K, box WG_BM x 64;  MN-major A (TN): rows K, cols M, box 64 x 64;
//   K-major B (NT): rows N, cols K, box WG_BN / WG_CLUSTER x 64;  MN-major B (NN, TN): rows K, cols N, box 64 x 64.
// TMA zero-fills every box element outside the matrix, so the K, M and N tails need no code in the
// main loop.
// Epilogue (each consumer, its 64 x 256 accumulators): gemm_common.cuh's fused epilogue in registers
// (beta, bias, residual, GELU forward writing gaux, GELU backward reading gaux; m < M, n < N), then C:
//   tmaC 1 (the host's choice, Kernels.tmaStoresC: C 16-byte aligned, row stride a multiple of 16
//     bytes): through shared memory and the TMA store. C's tensor map (mapC) has boxes of WG_EPI_ROWS
//     rows x one 128-byte swizzle span (64 bf16 or 32 fp32 columns), 128B swizzle. Per sub-tile the
//     consumer parks its accumulators in its threads' private shared slots (where they die), applies
//     the epilogue to them one pair at a time in a loop that is not unrolled, and writes the rounded
//     values into its staging sub-tile at the 128B-swizzled places (row r's 16-byte chunk q at
//     q ^ (r & 7): the 8 rows of one store instruction hit 8 bank groups); fence.proxy.async, a
//     named barrier of its 128 threads, and one thread issues the store (wg_epilogue_tma says why
//     this shape: no spills). The store clips rows >= M and columns >= N; a residual or beta
//     reading C in place reads each element before its sub-tile's store is issued.
//   tmaC 0 (C unaligned or an odd row stride: e.g. a view at an odd column): each element stored
//     directly, predicated on m < M, n < N (mapC is then unused).
// gemm_bf16_wgmma_qk: the in-projection with its whole epilogue fused (form NT, bf16 C = pre; what
//   Backend.inProjectionEpilogueForward does after the GEMM, the same function of the same rounded
//   pre): a second instantiation, so that the plain GEMM keeps its registers. WG_QK_STAGES = 3 ring
//   stages (144 KB) leave room to stage each consumer's whole 64 x 256 tile, rounded to bf16, as
//   four 64 x 64 128B-swizzled sub-tiles (32 KB per consumer): the accumulators die as they are
//   staged (no predicate: rows past M and columns past N hold TMA's zero fill), four TMA stores
//   write pre (which backward needs), and everything else is read back from shared memory with few
//   registers, in 16-byte vectors:
//   - GELU columns [geluCol0, geluCol0 + geluCols) (multiples of 8): gaux[m][n - geluCol0] =
//     GELU(pre + gbias[n - geluCol0]) (misc.cu's gelu_cols_bf16 on the rounded pre);
//   - q, k, v columns [qkCol, qkCol + 3D), D = heads x hd (qkCol % hd == 0 and 256 % hd == 0: a head
//     lies in one tile): hd / 8 consecutive lanes own one (row, head) (one 16-byte chunk each), sum
//     the chunk, reduce by shuffle-xor, mean (centered, else 0), then the squares about it, rstd =
//     rsqrt(mean square + eps) (norm.cu's qknorm_fwd: two passes; the order of the fp32 sums differs,
//     so the statistics may differ in the last bits); q/k[b, h, n, :] = (x - mean) rstd scale,
//     v[b, h, n, :] = x (a copy); stats (2, B, H, N, 2) = (mean, rstd) for q then k.
//   Kernels.gemmBf16WgmmaQk checks the alignments (16 bytes: pre, gaux, gbias, q, k, v, scales,
//   strides) that the vectors and the store need.
// Launch: persistent, in clusters of WG_CLUSTER = 2 CTAs (__cluster_dims__): grid.x = 2 min(pairs, the
// clusters the GPU holds at once: cuOccupancyMaxActiveClusters) (Kernels.wgmmaGrid; a multiple of 2),
// block WG_THREADS = 3 warpgroups, dynamic shared memory WG_SMEM_BYTES (WG_QK_SMEM_BYTES for _qk). The output tiles are taken in pairs stacked along M (tile rows 2p and 2p + 1
// at one tile column; pairs = ceil(ceil(M/WG_BM) / 2) x ceil(N/WG_BN), numbered in gemm_common.cuh's
// grouped raster); cluster c computes pairs c, c + gridDim.x / 2, ..., its CTA of rank r the tile
// row 2p + r (past M when the tile rows are odd: zero-filled A, no output). The ring and its barrier
// phases run on across tiles, so the producer loads the next tile's first stages while the
// consumers run the epilogue of this one.
// Why clusters of 2 along M: the two tiles of a pair read the same B tile (256 x 64 per k-tile:
// the weight in the forward GEMM), so each CTA loads half of it and multicasts that half into both
// CTAs' stage; the pair's B traffic from L2 halves (A is per CTA). Per stage each CTA still receives
// WG_STAGE_BYTES: its A, its own half of B and its peer's. A stage is free only when the consumers of
// both CTAs released it (each consumer warp arrives on both CTAs' empty barrier), since the peer's
// producer writes into it; cluster_sync after the barriers' init (the peer's must exist before it is
// written) and at the end (a CTA's shared memory must outlive its peer's last write into it).
//   warpgroup 0, the producer: setmaxnreg down to 40; one thread waits for a free stage (empty
//     barrier), announces WG_STAGE_BYTES on its full barrier and issues the stage's TMA boxes (A for
//     this CTA, its half of B multicast to both CTAs).
//   warpgroups 1 and 2, the consumers: setmaxnreg up to 232; consumer c computes rows 64(c-1) ..
//     +63 of the 128 x 256 block tile with four wgmma m64n256k16 per 64-wide k-tile into 128 fp32
//     accumulators per thread, keeps one wgmma group in flight, and releases a stage (one arrival
//     per warp on each CTA's empty barrier) once the group that read it has retired.
// Tile 128 x 256 x 64: m64n256 is the widest wgmma (the most FLOPs per shared-memory byte read:
// A 64 x 16 and B 16 x 256 feed 64 x 256 x 16 MACs); 128 accumulators per consumer thread fit the 232
// registers setmaxnreg gives each of 256 consumer threads (40 x 128 + 232 x 256 = 64,512 of the
// 65,536-register file). ptxas itself allocates for __launch_bounds__(384, 1): 168 registers a
// thread, so the consumer's code (128 accumulators + addresses) must fit in 168 without spilling.
// A stage is 16 KB of A + 32 KB of B; four stages = 192 KB + the epilogue's 32 KB + barriers, within
// the 227 KB a Hopper block may use (a fifth stage would not fit).
// Shared memory (1024-byte aligned: the 128B swizzle is a function of address bits 4-9): per stage
// the A tile then the B tile, each as the TMA boxes lay them down (K-major: rows of 64 k = 128
// bytes; MN-major: 64 x 64 boxes of rows of 64 m or n, one row per k), then the epilogue's staging
// (2 consumers x (8 KB sub-tile + 8 KB private slots) = 32 KB), then full[] and empty[]: 196,608 + 32,768 + 64 +
// 1,024 bytes of alignment slack = 230,464 of the 232,448 bytes a block may have.
// Requirements (Kernels.gemmBf16Wgmma checks them): sm_90a (the sm_80 image and the compute_90 PTX,
// which a newer GPU would JIT, hold only a trap; the host refuses other GPUs first), 16-byte aligned
// operands with row strides a multiple of 16 bytes, K >= 1.
#include "common.cuh"
#include "gemm_common.cuh"
#include "hopper.cuh"
#include <cuda_bf16.h>

#define WG_BM 128
#define WG_BN 256
#define WG_BK 64
#define WG_STAGES 4
#define WG_THREADS 384
#define WG_CLUSTER 2              // CTAs per cluster, along M: they share (multicast) the B tile
#define WG_A_BYTES (WG_BM * WG_BK * 2)
#define WG_B_BYTES (WG_BN * WG_BK * 2)
#define WG_STAGE_BYTES (WG_A_BYTES + WG_B_BYTES)
// Epilogue staging for the TMA store of C, per consumer: one sub-tile of 64 rows of WG_EPI_ROW_BYTES (one
// 128B swizzle span: 64 bf16 or 32 fp32 columns), then its threads' private slots (16 fp32 each).
#define WG_EPI_ROWS 64
#define WG_EPI_ROW_BYTES 128
#define WG_EPI_TILE_BYTES (WG_EPI_ROWS * WG_EPI_ROW_BYTES)
#define WG_EPI_PRIV_BYTES 8192   // 128 threads x 16 fp32 slots
#define WG_EPI_CONSUMER_BYTES (WG_EPI_TILE_BYTES + WG_EPI_PRIV_BYTES)
#define WG_EPI_BYTES (2 * WG_EPI_CONSUMER_BYTES)
// The stages, the staging buffers, the ring's 2 x WG_STAGES barriers, and the slack that aligns the
// ring to 1024 bytes.
#define WG_SMEM_BYTES (WG_STAGES * WG_STAGE_BYTES + WG_EPI_BYTES + 2 * WG_STAGES * 8 + 1024)
#define WG_BOX 64                 // an MN-major box: 64 (k) rows of 64 elements = 128 bytes
#define WG_BOX_BYTES (WG_BOX * WG_BOX * 2)
// gemm_bf16_wgmma_qk: 3 stages, each consumer's whole tile staged (4 sub-tiles of 64 x 64 bf16, 128B
// swizzle: 32 KB): 147,456 + 65,536 + 48 + 1,024 = 214,064 bytes.
#define WG_QK_STAGES 3
#define WG_QK_EPI_BYTES (2 * 4 * WG_EPI_TILE_BYTES)
#define WG_QK_SMEM_BYTES (WG_QK_STAGES * WG_STAGE_BYTES + WG_QK_EPI_BYTES + 2 * WG_QK_STAGES * 8 + 1024)
#define WG_PRODUCER_REGS 40
#define WG_CONSUMER_REGS 232

#ifdef HOPPER_KERNELS

// The persistent scheduler: the cluster's pair-th work item (pairs numbered in gemm_common.cuh's
// grouped raster over ceil(tiles along M / WG_CLUSTER) x tiles along N) is WG_CLUSTER tiles stacked
// along M at one tn; this CTA takes the one of its rank. Its first row may lie past M (an odd last
// row of tiles): TMA zero-fills its A and the epilogue writes nothing, but it still loads its part
// of B and releases every stage, as its peer needs.
__device__ __forceinline__ void wg_tile_of(int pair, int tilesX, int pairsY, unsigned rank, int& m0, int& n0) {
    int tp, tn;
    gemm_tile(pair, tilesX, pairsY, tp, tn);
    m0 = (tp * WG_CLUSTER + (int)rank) * WG_BM;
    n0 = tn * WG_BN;
}
// A stage is free once the consumers of every CTA of the cluster are done with it (a peer's producer
// writes its part of B into this CTA's stage): each consumer warp arrives on the empty barrier of
// every CTA, WG_CLUSTER x 8 arrivals per phase.
__device__ __forceinline__ void wg_release(uint64_t* empty) {
    #pragma unroll
    for (unsigned p = 0; p < WG_CLUSTER; p++) mbar_arrive_cluster(empty, p);
}

// Element (r, k) of a K-major tile of 128-byte rows, 128B-swizzled: the byte offset.
__device__ __forceinline__ int wg_kmajor_at(int r, int k) { return r * 128 + ((((k >> 3) ^ r) & 7) << 4) + ((k & 7) << 1); }
// Element (i, k) (i along m or n) of an MN-major tile of 64 x 64 boxes, 128B-swizzled: the byte offset.
__device__ __forceinline__ int wg_mnmajor_at(int i, int k) {
    return (i >> 6) * WG_BOX_BYTES + k * 128 + (((((i & 63) >> 3) ^ k) & 7) << 4) + ((i & 7) << 1);
}

// The accumulator fragment (hopper.cuh): warp w of the group has rows 16w + g (+ 8), columns 8j + 2t (+ 1),
// in acc[4j + 2h + e] for row 16w + g + 8h, column 8j + 2t + e.
// Direct path: each element through gemm_common.cuh's epilogue to global, predicated on m < M, n < N.
template <class T>
__device__ __forceinline__ void wg_epilogue_direct(const float (&acc)[WG_BN / 2], const GemmEpilogue<T>& epi, int m0,
                                                   int n0, int lt, int M, int N) {
    const int g = (lt & 31) >> 2, t = lt & 3;
    #pragma unroll
    for (int h = 0; h < 2; h++) {
        const int m = m0 + 16 * (lt >> 5) + g + 8 * h;
        if (m >= M) continue;
        #pragma unroll
        for (int j = 0; j < WG_BN / 8; j++)
            #pragma unroll
            for (int e = 0; e < 2; e++) {
                const int n = n0 + 8 * j + 2 * t + e;
                if (n < N) gemm_epilogue_at(epi, m, n, acc[4 * j + 2 * h + e]);
            }
    }
}

// Two adjacent columns' values (rounded once, to T) where a staging buffer holds them.
__device__ __forceinline__ void wg_stage_pair(unsigned char* p, float v0, float v1, __nv_bfloat16*) {
    *reinterpret_cast<unsigned*>(p) = (unsigned)bf16_bits_rne(v0) | (unsigned)bf16_bits_rne(v1) << 16;
}
__device__ __forceinline__ void wg_stage_pair(unsigned char* p, float v0, float v1, float*) {
    *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
}
// Byte offset of 16-byte chunk q of row r in a 128B-swizzled sub-tile of 128-byte rows (TMA's layout).
__device__ __forceinline__ int wg_swz(int r, int q) { return r * WG_EPI_ROW_BYTES + (((q ^ r) & 7) << 4); }

// TMA path (the header's tmaC 1): the group's 64 x WG_BN tile in sub-tiles of 64 rows x COLS columns
// (one 128-byte swizzle span), each in rounds of 16 accumulators a thread: first copied to the
// thread's own slots of `priv` (slot i of thread lt at word 128 i + lt: conflict-free), where they
// die, then read back one pair at a time by a loop that is not unrolled, through gemm_common.cuh's
// epilogue (m < M, n < N; the rest staged as 0 and clipped by the store), into `out` at the
// 128B-swizzled places. So the fused epilogue's loads and addresses never coexist with more than
// 112 live accumulators (ptxas spilled when the unrolled epilogue ran on the registers). `bar` is the
// group's named barrier; `out` is written only after its previous store has read it (thread 0 waits
// on the bulk group, then the barrier). Columns past N end the loop (uniform).
template <class T>
__device__ __forceinline__ void wg_epilogue_tma(const float (&acc)[WG_BN / 2], const GemmEpilogue<T>& epi,
                                                const CUtensorMap* mapC, unsigned char* out, float* priv, int bar,
                                                int m0, int n0, int lt, int M, int N) {
    constexpr int COLS = WG_EPI_ROW_BYTES / (int)sizeof(T), JS = COLS / 8, ROUNDS = JS / 4;
    const int g = (lt & 31) >> 2, t = lt & 3;
    #pragma unroll   // whole: acc's indices must be constants, or acc goes to local memory
    for (int s = 0; s < WG_BN / COLS; s++) {
        if (n0 + s * COLS >= N) continue;   // (uniform; not a break, which keeps the loop from unrolling)
        if (lt == 0) tma_store_wait();
        named_bar_sync(bar, 128);
        #pragma unroll
        for (int rd = 0; rd < ROUNDS; rd++) {
            #pragma unroll
            for (int p = 0; p < 8; p++)           // pair p: row half h = p / 4, column group jj = 4 rd + p % 4
                #pragma unroll
                for (int e = 0; e < 2; e++)
                    priv[(2 * p + e) * 128 + lt] = acc[4 * (s * JS + 4 * rd + p % 4) + 2 * (p / 4) + e];
            #pragma unroll 1
            for (int p = 0; p < 8; p++) {
                const int jj = 4 * rd + (p & 3), r = 16 * (lt >> 5) + g + 8 * (p >> 2), m = m0 + r;
                const int n = n0 + s * COLS + 8 * jj + 2 * t;
                float v[2];
                #pragma unroll
                for (int e = 0; e < 2; e++) {
                    v[e] = priv[(2 * p + e) * 128 + lt];
                    v[e] = m < M && n + e < N ? gemm_epilogue_value(epi, m, n + e, v[e]) : 0.0f;
                }
                const int byte = (8 * jj + 2 * t) * (int)sizeof(T);
                wg_stage_pair(out + wg_swz(r, byte >> 4) + (byte & 15), v[0], v[1], (T*)nullptr);
            }
        }
        fence_proxy_async();                // this thread's staged values -> visible to the TMA store
        named_bar_sync(bar, 128);
        if (lt == 0) {
            tma_store_2d(mapC, out, n0 + s * COLS, m0);
            tma_store_commit();
        }
    }
}

// The plain GEMM's epilogue (the header's): C through the TMA store or directly.
template <class T> struct WgEpilogueC {
    GemmEpilogue<T> epi;
    const CUtensorMap* mapC;
    int tmaC, M, N;
    static constexpr int STAGING_BYTES = WG_EPI_BYTES;
    // Consumer c's rows m0 .. m0 + 63 (m0 < M) of the tile at column n0; `staging` is the block's.
    __device__ __forceinline__ void tile(const float (&acc)[WG_BN / 2], int c, int m0, int n0, int lt, unsigned char* staging) {
        unsigned char* mine = staging + c * WG_EPI_CONSUMER_BYTES;
        if (tmaC)
            wg_epilogue_tma(acc, epi, mapC, mine, reinterpret_cast<float*>(mine + WG_EPI_TILE_BYTES), 1 + c, m0, n0, lt, M, N);
        else wg_epilogue_direct(acc, epi, m0, n0, lt, M, N);
    }
    __device__ __forceinline__ void finish(int lt) {
        if (tmaC && lt == 0) tma_store_wait();   // the last stores have read the staging buffers
    }
};

// gemm_bf16_wgmma_qk's QK-norm (the header's): pre's columns [col0, col0 + 3D) are q, k, v (D = H hd);
// row m is token m % N of image m / N.
struct WgQk {
    const __nv_bfloat16* qs;
    const __nv_bfloat16* ks;
    __nv_bfloat16* q;
    __nv_bfloat16* k;
    __nv_bfloat16* v;
    float* stats;
    int col0, N, H, hd, centered;
    float eps;
};

// Eight staged values (one 16-byte chunk: row r, columns lc .. lc + 7 of the consumer's tile) widened.
__device__ __forceinline__ void wg_qk_chunk(const unsigned char* stg, int r, int lc, float (&x)[8]) {
    Pack16<__nv_bfloat16> pk;
    pk.u = *reinterpret_cast<const uint4*>(stg + (lc >> 6) * WG_EPI_TILE_BYTES + wg_swz(r, (lc & 63) >> 3));
    #pragma unroll
    for (int e = 0; e < 8; e++) x[e] = __bfloat162float(pk.e[e]);
}

// gemm_bf16_wgmma_qk's epilogue (the header's); C = pre (bf16) with its TMA map, the GELU part of epi.
struct WgEpilogueQk {
    GemmEpilogue<__nv_bfloat16> epi;   // C, gelu (forward or none), geluKind, geluCol0, geluCols, gaux, ldg, gbias
    const CUtensorMap* mapC;
    WgQk qk;
    int M, N;
    static constexpr int STAGING_BYTES = WG_QK_EPI_BYTES;
    __device__ __forceinline__ void tile(const float (&acc)[WG_BN / 2], int c, int m0, int n0, int lt, unsigned char* staging) {
        unsigned char* stg = staging + c * 4 * WG_EPI_TILE_BYTES;
        const int g = (lt & 31) >> 2, t = lt & 3, bar = 1 + c;
        if (lt == 0) tma_store_wait();     // the previous tile's stores have read the staging
        named_bar_sync(bar, 128);          // ... and every thread has read it
        #pragma unroll
        for (int j = 0; j < WG_BN / 8; j++)
            #pragma unroll
            for (int h = 0; h < 2; h++) {
                const int r = 16 * (lt >> 5) + g + 8 * h;
                wg_stage_pair(stg + (j >> 3) * WG_EPI_TILE_BYTES + wg_swz(r, j & 7) + 4 * t, acc[4 * j + 2 * h],
                              acc[4 * j + 2 * h + 1], (__nv_bfloat16*)nullptr);
            }
        fence_proxy_async();
        named_bar_sync(bar, 128);
        if (lt == 0) {
            for (int s = 0; s < 4 && n0 + 64 * s < N; s++) tma_store_2d(mapC, stg + s * WG_EPI_TILE_BYTES, n0 + 64 * s, m0);
            tma_store_commit();
        }
        gelu(stg, m0, n0, lt);
        norm(stg, m0, n0, lt);
    }
    // GELU of the tile's chunks in [geluCol0, geluCol0 + geluCols): a warp a row (32 chunks) at a time.
    __device__ __forceinline__ void gelu(const unsigned char* stg, int m0, int n0, int lt) {
        if (epi.gelu != MMA_GELU_FWD || n0 >= epi.geluCol0 + epi.geluCols || n0 + WG_BN <= epi.geluCol0) return;
        #pragma unroll 1
        for (int i = 0; i < 16; i++) {
            const int r = 4 * i + (lt >> 5), lc = 8 * (lt & 31), jg = n0 + lc - epi.geluCol0, m = m0 + r;
            if (m >= M || jg < 0 || jg >= epi.geluCols) continue;
            float x[8], b[8];
            wg_qk_chunk(stg, r, lc, x);
            if (epi.gbias) ldn(epi.gbias + jg, b, 8);
            #pragma unroll
            for (int e = 0; e < 8; e++) x[e] = gelu_f(x[e] + (epi.gbias ? b[e] : 0.0f), epi.geluKind);
            stn(epi.gaux + (long long)m * epi.ldg + jg, x, 8);
        }
    }
    // q, k, v of the heads in the tile: L = hd / 8 lanes a (row, head), 128 / L of them a pass, 16 passes
    // (64 rows x 256 / hd heads); a warp's groups share the head (64 rows are a multiple of 32 / L), so
    // the skip of a tile's non-q/k/v head is warp-uniform and the shuffles see whole warps.
    __device__ __forceinline__ void norm(const unsigned char* stg, int m0, int n0, int lt) {
        const int D = qk.H * qk.hd;
        if (n0 >= qk.col0 + 3 * D || n0 + WG_BN <= qk.col0) return;
        const int L = qk.hd >> 3, li = lt & (L - 1), groups = 128 / L;
        #pragma unroll 1
        for (int p = 0; p < 16; p++) {
            const int u = p * groups + lt / L, hi = u >> 6, r = u & 63, hc = n0 + hi * qk.hd - qk.col0, m = m0 + r;
            if (hc < 0 || hc >= 3 * D) continue;   // warp-uniform
            const int which = hc / D, h = hc % D / qk.hd;
            float x[8];
            wg_qk_chunk(stg, r, hi * qk.hd + 8 * li, x);
            const int mm = m < M ? m : M - 1;       // rows past M reduce (whole warps shuffle) but store nothing
            const long long hm = (((long long)(mm / qk.N) * qk.H + h) * qk.N + mm % qk.N) * qk.hd + 8 * li;
            if (which == 2) {
                if (m < M) stn(qk.v + hm, x, 8);    // exact: bf16 values
                continue;
            }
            float sum = 0.0f;
            #pragma unroll
            for (int e = 0; e < 8; e++) sum += x[e];
            for (int o = 1; o < L; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            const float mean = qk.centered ? sum / qk.hd : 0.0f;
            float ss = 0.0f;
            #pragma unroll
            for (int e = 0; e < 8; e++) { const float d = x[e] - mean; ss = fmaf(d, d, ss); }
            for (int o = 1; o < L; o <<= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
            const float rstd = rsqrtf(ss / qk.hd + qk.eps);
            if (m >= M) continue;
            float sc[8];
            ldn((which ? qk.ks : qk.qs) + 8 * li, sc, 8);
            #pragma unroll
            for (int e = 0; e < 8; e++) x[e] = (x[e] - mean) * rstd * sc[e];
            stn((which ? qk.k : qk.q) + hm, x, 8);
            if (li == 0) {
                const long long si = ((long long)which * M * qk.H + ((long long)(m / qk.N) * qk.H + h) * qk.N + m % qk.N) * 2;
                *reinterpret_cast<float2*>(qk.stats + si) = make_float2(mean, rstd);
            }
        }
    }
    __device__ __forceinline__ void finish(int lt) {
        if (lt == 0) tma_store_wait();
    }
};

// The ring of STAGES stages, then OUT's staging, then the barriers (Epi::STAGING_BYTES, a multiple of 1024).
template <bool A_KMAJOR, bool B_KMAJOR, int STAGES, class OUT>
__device__ __forceinline__ void wg_gemm(const CUtensorMap* mapA, const CUtensorMap* mapB, int M, int N, int K,
                                        OUT& out, float beta, float* dbias) {
    DYNAMIC_SHARED(unsigned char, wg_raw);
    unsigned char* ring = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(wg_raw) + 1023) & ~(uintptr_t)1023);
    unsigned char* staging = ring + STAGES * WG_STAGE_BYTES;   // 1024-aligned: the 128B swizzle's pattern
    uint64_t* full = reinterpret_cast<uint64_t*>(staging + OUT::STAGING_BYTES);
    uint64_t* empty = full + STAGES;
    const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127;
    const int tilesX = (N + WG_BN - 1) / WG_BN, kTiles = (K + WG_BK - 1) / WG_BK;
    const int pairsY = ((M + WG_BM - 1) / WG_BM + WG_CLUSTER - 1) / WG_CLUSTER, pairs = tilesX * pairsY;
    const int cluster = blockIdx.x / WG_CLUSTER, clusters = gridDim.x / WG_CLUSTER;
    const unsigned rank = cluster_ctarank();

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(&full[s], 1);                  // the producer's arrive.expect_tx; then the TMA bytes
            mbar_init(&empty[s], 8 * WG_CLUSTER);    // one arrival per consumer warp of each CTA
        }
        mbar_fence_init();
    }
    cluster_sync();   // every CTA's barriers are initialised before a peer multicasts or arrives on them

    if (wg == 0) {
        setmaxnreg_dec<WG_PRODUCER_REGS>();
        if (lt != 0) return;
        // k-tiles issued over all the cluster's pairs: stage it % STAGES, round it / STAGES, in
        // step with the peer (same pairs, same K)
        int it = 0;
        constexpr uint16_t everyone = (1u << WG_CLUSTER) - 1;
        constexpr int bRows = WG_BN / WG_CLUSTER, bBoxes = WG_BN / WG_BOX / WG_CLUSTER;   // this CTA's part of B
        for (int pair = cluster; pair < pairs; pair += clusters) {
            int m0, n0;
            wg_tile_of(pair, tilesX, pairsY, rank, m0, n0);
            for (int kt = 0; kt < kTiles; kt++, it++) {
                const int s = it % STAGES, k0 = kt * WG_BK;
                // the round before: the consumers of every CTA are done with this stage
                mbar_wait(&empty[s], ((it / STAGES) & 1) ^ 1);
                // this CTA's A and both halves of B (its own and the peer's multicast) land here
                mbar_arrive_expect_tx(&full[s], WG_STAGE_BYTES);
                unsigned char* a = ring + s * WG_STAGE_BYTES;
                unsigned char* b = a + WG_A_BYTES;
                if (A_KMAJOR) tma_load_2d(a, mapA, k0, m0, &full[s]);
                else
                    for (int j = 0; j < WG_BM / WG_BOX; j++) tma_load_2d(a + j * WG_BOX_BYTES, mapA, m0 + j * WG_BOX, k0, &full[s]);
                if (B_KMAJOR) tma_load_2d_multicast(b + rank * bRows * 128, mapB, k0, n0 + rank * bRows, &full[s], everyone);
                else
                    for (int j = rank * bBoxes; j < (int)(rank + 1) * bBoxes; j++)
                        tma_load_2d_multicast(b + j * WG_BOX_BYTES, mapB, n0 + j * WG_BOX, k0, &full[s], everyone);
            }
        }
        return;
    }

    setmaxnreg_inc<WG_CONSUMER_REGS>();
    const int c = wg - 1;                                  // rows 64c .. 64c + 63 of each block tile
    const int lane = lt & 31;
    float acc[WG_BN / 2];
    int it = 0;                                            // as the producer's
    for (int pair = cluster; pair < pairs; pair += clusters) {
        int m0, n0;
        wg_tile_of(pair, tilesX, pairsY, rank, m0, n0);
        const bool rowSums = dbias != nullptr && n0 == 0 && lt < 64;
        float rowSum = 0.0f;
        for (int kt = 0; kt < kTiles; kt++, it++) {
            const int s = it % STAGES;
            mbar_wait(&full[s], (it / STAGES) & 1);
            const unsigned char* a = ring + s * WG_STAGE_BYTES;
            const unsigned char* b = a + WG_A_BYTES;
            if (rowSums) {
                const int r = 64 * c + lt;
                #pragma unroll 8
                for (int k = 0; k < WG_BK; k++)
                    rowSum += __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(
                            a + (A_KMAJOR ? wg_kmajor_at(r, k) : wg_mnmajor_at(r, k))));
            }
            wgmma_pin(acc);
            wgmma_fence();
            #pragma unroll
            for (int ks = 0; ks < WG_BK / 16; ks++) {
                // K-major: this group's 64 rows start 64 x 128 bytes in, the k-slice 32 bytes along each row.
                // MN-major: this group's 64 m are box c; the k-slice starts 16 rows (of 128 bytes) further.
                const uint64_t da = A_KMAJOR ? wgmma_desc(a + c * 64 * 128 + ks * 32, WG_SWIZZLE_128B, 16, 1024)
                                             : wgmma_desc(a + c * WG_BOX_BYTES + ks * 16 * 128, WG_SWIZZLE_128B, WG_BOX_BYTES, 1024);
                const uint64_t db = B_KMAJOR ? wgmma_desc(b + ks * 32, WG_SWIZZLE_128B, 16, 1024)
                                             : wgmma_desc(b + ks * 16 * 128, WG_SWIZZLE_128B, WG_BOX_BYTES, 1024);
                wgmma_bf16<WG_BN, A_KMAJOR ? 0 : 1, B_KMAJOR ? 0 : 1>(acc, da, db, kt > 0 || ks > 0);
            }
            wgmma_commit();
            wgmma_wait<1>();                              // the previous k-tile's group has retired
            wgmma_pin(acc);
            if (kt > 0) {
                __syncwarp();
                if (lane == 0) wg_release(&empty[(it - 1) % STAGES]);
            }
        }
        wgmma_wait<0>();
        wgmma_pin(acc);
        __syncwarp();
        if (lane == 0) wg_release(&empty[(it - 1) % STAGES]);   // the tile's last stage: free for the next tile

        if (rowSums && m0 + 64 * c + lt < M) {
            float* d = dbias + m0 + 64 * c + lt;
            *d = (beta != 0.0f ? beta * *d : 0.0f) + rowSum;
        }
        if (m0 + 64 * c < M) out.tile(acc, c, m0 + 64 * c, n0, lt, staging);   // else the group's rows are all past M
    }
    out.finish(lt);
}

template <bool A_KMAJOR, bool B_KMAJOR>
__device__ __forceinline__ void wg_gemm_out(const CUtensorMap* mapA, const CUtensorMap* mapB, const CUtensorMap* mapC, int tmaC,
                                            void* C, long long ldc, int M, int N, int K, float beta, int outBf16,
                                            const void* bias, const void* res, long long ldr, int resRows, int gelu,
                                            int geluKind, int geluCol0, int geluCols, void* gaux, long long ldg,
                                            const void* gbias, float* dbias) {
    typedef __nv_bfloat16 B16;
    if (outBf16) {
        WgEpilogueC<B16> out{{beta, static_cast<B16*>(C), ldc, static_cast<const B16*>(bias), static_cast<const B16*>(res), ldr,
                              resRows, gelu, geluKind, geluCol0, geluCols, static_cast<B16*>(gaux), ldg,
                              static_cast<const B16*>(gbias)}, mapC, tmaC, M, N};
        wg_gemm<A_KMAJOR, B_KMAJOR, WG_STAGES>(mapA, mapB, M, N, K, out, beta, dbias);
    } else {
        WgEpilogueC<float> out{{beta, static_cast<float*>(C), ldc, static_cast<const float*>(bias), static_cast<const float*>(res),
                                ldr, resRows, gelu, geluKind, geluCol0, geluCols, static_cast<float*>(gaux), ldg,
                                static_cast<const float*>(gbias)}, mapC, tmaC, M, N};
        wg_gemm<A_KMAJOR, B_KMAJOR, WG_STAGES>(mapA, mapB, M, N, K, out, beta, dbias);
    }
}

#endif  // HOPPER_KERNELS

extern "C" __global__ void __cluster_dims__(WG_CLUSTER, 1, 1) __launch_bounds__(WG_THREADS, 1)
gemm_bf16_wgmma(int form, const __grid_constant__ CUtensorMap mapA, const __grid_constant__ CUtensorMap mapB,
                const __grid_constant__ CUtensorMap mapC, int tmaC, void* C, long long ldc, int M, int N, int K, float beta,
                int outBf16, const void* __restrict__ bias, const void* res, long long ldr, int resRows, int gelu,
                int geluKind, int geluCol0, int geluCols, void* gaux, long long ldg, const void* __restrict__ gbias,
                float* dbias) {
#ifdef HOPPER_KERNELS
    if (form == MMA_NT)
        wg_gemm_out<true, true>(&mapA, &mapB, &mapC, tmaC, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu,
                                geluKind, geluCol0, geluCols, gaux, ldg, gbias, dbias);
    else if (form == MMA_NN)
        wg_gemm_out<true, false>(&mapA, &mapB, &mapC, tmaC, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu,
                                 geluKind, geluCol0, geluCols, gaux, ldg, gbias, dbias);
    else
        wg_gemm_out<false, false>(&mapA, &mapB, &mapC, tmaC, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu,
                                  geluKind, geluCol0, geluCols, gaux, ldg, gbias, dbias);
    cluster_sync();   // every thread of both CTAs: no CTA exits while its peer may still write its ring or barriers
#elif defined(__CUDA_ARCH__)
    __trap();   // not sm_90a (the compute_90 PTX JIT-compiled for a newer GPU): fail the launch, never a silent no-op
#endif
}

// The in-projection with its epilogue fused (the header's gemm_bf16_wgmma_qk): form NT, bf16 pre.
extern "C" __global__ void __cluster_dims__(WG_CLUSTER, 1, 1) __launch_bounds__(WG_THREADS, 1)
gemm_bf16_wgmma_qk(const __grid_constant__ CUtensorMap mapA, const __grid_constant__ CUtensorMap mapB,
                   const __grid_constant__ CUtensorMap mapC, __nv_bfloat16* C, long long ldc, int M, int N, int K, int gelu,
                   int geluKind, int geluCol0, int geluCols, __nv_bfloat16* gaux, long long ldg,
                   const __nv_bfloat16* __restrict__ gbias, const __nv_bfloat16* __restrict__ qkScaleQ,
                   const __nv_bfloat16* __restrict__ qkScaleK, __nv_bfloat16* qkQ, __nv_bfloat16* qkK, __nv_bfloat16* qkV,
                   float* qkStats, int qkCol, int qkTokens, int qkHeads, int qkHd, int qkCentered, float qkEps) {
#ifdef HOPPER_KERNELS
    WgEpilogueQk out{{0.0f, C, ldc, nullptr, nullptr, 0, 1, gelu, geluKind, geluCol0, geluCols, gaux, ldg, gbias}, &mapC,
                     {qkScaleQ, qkScaleK, qkQ, qkK, qkV, qkStats, qkCol, qkTokens, qkHeads, qkHd, qkCentered, qkEps}, M, N};
    wg_gemm<true, true, WG_QK_STAGES>(&mapA, &mapB, M, N, K, out, 0.0f, nullptr);
    cluster_sync();
#elif defined(__CUDA_ARCH__)
    __trap();
#endif
}
