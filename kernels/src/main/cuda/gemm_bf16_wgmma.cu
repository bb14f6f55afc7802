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
// main loop; the epilogue is predicated on m < M, n < N.
// Launch: persistent, in clusters of WG_CLUSTER = 2 CTAs (__cluster_dims__): grid.x = 2 min(pairs,
// the clusters the GPU holds at once: cuOccupancyMaxActiveClusters) (Kernels.gemmBf16Wgmma; a multiple
// of 2), block WG_THREADS = 3 warpgroups, dynamic shared
// memory WG_SMEM_BYTES. The output tiles are taken in pairs stacked along M (tile rows 2p and 2p + 1
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
// 65,536-register file). A stage is 16 KB of A + 32 KB of B; four stages = 192 KB + barriers,
// within the 227 KB a Hopper block may use (a fifth stage would not fit).
// Shared memory (1024-byte aligned: the 128B swizzle is a function of address bits 4-9): per stage
// the A tile then the B tile, each as the TMA boxes lay them down (K-major: rows of 64 k = 128
// bytes; MN-major: 64 x 64 boxes of rows of 64 m or n, one row per k), then full[] and empty[].
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
// The stages, their 2 x WG_STAGES barriers, and the slack that aligns the ring to 1024 bytes.
#define WG_SMEM_BYTES (WG_STAGES * WG_STAGE_BYTES + 2 * WG_STAGES * 8 + 1024)
#define WG_BOX 64                 // an MN-major box: 64 (k) rows of 64 elements = 128 bytes
#define WG_BOX_BYTES (WG_BOX * WG_BOX * 2)
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

template <bool A_KMAJOR, bool B_KMAJOR, class T>
__device__ __forceinline__ void wg_gemm(const CUtensorMap* mapA, const CUtensorMap* mapB, int M, int N, int K,
                                        const GemmEpilogue<T>& epi, float* dbias) {
    DYNAMIC_SHARED(unsigned char, wg_raw);
    unsigned char* ring = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(wg_raw) + 1023) & ~(uintptr_t)1023);
    uint64_t* full = reinterpret_cast<uint64_t*>(ring + WG_STAGES * WG_STAGE_BYTES);
    uint64_t* empty = full + WG_STAGES;
    const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127;
    const int tilesX = (N + WG_BN - 1) / WG_BN, kTiles = (K + WG_BK - 1) / WG_BK;
    const int pairsY = ((M + WG_BM - 1) / WG_BM + WG_CLUSTER - 1) / WG_CLUSTER, pairs = tilesX * pairsY;
    const int cluster = blockIdx.x / WG_CLUSTER, clusters = gridDim.x / WG_CLUSTER;
    const unsigned rank = cluster_ctarank();

    if (threadIdx.x == 0) {
        for (int s = 0; s < WG_STAGES; s++) {
            mbar_init(&full[s], 1);                  // the producer's arrive.expect_tx; then the TMA bytes
            mbar_init(&empty[s], 8 * WG_CLUSTER);    // one arrival per consumer warp of each CTA
        }
        mbar_fence_init();
    }
    cluster_sync();   // every CTA's barriers are initialised before a peer multicasts or arrives on them

    if (wg == 0) {
        setmaxnreg_dec<WG_PRODUCER_REGS>();
        if (lt != 0) return;
        // k-tiles issued over all the cluster's pairs: stage it % WG_STAGES, round it / WG_STAGES, in
        // step with the peer (same pairs, same K)
        int it = 0;
        constexpr uint16_t everyone = (1u << WG_CLUSTER) - 1;
        constexpr int bRows = WG_BN / WG_CLUSTER, bBoxes = WG_BN / WG_BOX / WG_CLUSTER;   // this CTA's part of B
        for (int pair = cluster; pair < pairs; pair += clusters) {
            int m0, n0;
            wg_tile_of(pair, tilesX, pairsY, rank, m0, n0);
            for (int kt = 0; kt < kTiles; kt++, it++) {
                const int s = it % WG_STAGES, k0 = kt * WG_BK;
                // the round before: the consumers of every CTA are done with this stage
                mbar_wait(&empty[s], ((it / WG_STAGES) & 1) ^ 1);
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
    const int lane = lt & 31, g = lane >> 2, t = lane & 3;
    float acc[WG_BN / 2];
    int it = 0;                                            // as the producer's
    for (int pair = cluster; pair < pairs; pair += clusters) {
        int m0, n0;
        wg_tile_of(pair, tilesX, pairsY, rank, m0, n0);
        const bool rowSums = dbias != nullptr && n0 == 0 && lt < 64;
        float rowSum = 0.0f;
        for (int kt = 0; kt < kTiles; kt++, it++) {
            const int s = it % WG_STAGES;
            mbar_wait(&full[s], (it / WG_STAGES) & 1);
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
                if (lane == 0) wg_release(&empty[(it - 1) % WG_STAGES]);
            }
        }
        wgmma_wait<0>();
        wgmma_pin(acc);
        __syncwarp();
        if (lane == 0) wg_release(&empty[(it - 1) % WG_STAGES]);   // the tile's last stage: free for the next tile

        if (rowSums && m0 + 64 * c + lt < M) {
            float* d = dbias + m0 + 64 * c + lt;
            *d = (epi.beta != 0.0f ? epi.beta * *d : 0.0f) + rowSum;
        }
        // The accumulator fragment (hopper.cuh): warp w of the group has rows 16w + g (+ 8), columns 8j + 2t (+ 1).
        #pragma unroll
        for (int h = 0; h < 2; h++) {
            const int m = m0 + 64 * c + 16 * (lt >> 5) + g + 8 * h;
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
}

template <bool A_KMAJOR, bool B_KMAJOR>
__device__ __forceinline__ void wg_gemm_out(const CUtensorMap* mapA, const CUtensorMap* mapB, void* C, long long ldc,
                                            int M, int N, int K, float beta, int outBf16, const void* bias,
                                            const void* res, long long ldr, int resRows, int gelu, int geluKind,
                                            int geluCol0, int geluCols, void* gaux, long long ldg, const void* gbias,
                                            float* dbias) {
    if (outBf16)
        wg_gemm<A_KMAJOR, B_KMAJOR>(mapA, mapB, M, N, K, GemmEpilogue<__nv_bfloat16>{beta, static_cast<__nv_bfloat16*>(C), ldc,
                                    static_cast<const __nv_bfloat16*>(bias), static_cast<const __nv_bfloat16*>(res), ldr, resRows, gelu, geluKind, geluCol0,
                                    geluCols, static_cast<__nv_bfloat16*>(gaux), ldg, static_cast<const __nv_bfloat16*>(gbias)}, dbias);
    else
        wg_gemm<A_KMAJOR, B_KMAJOR>(mapA, mapB, M, N, K, GemmEpilogue<float>{beta, static_cast<float*>(C), ldc, static_cast<const float*>(bias),
                                    static_cast<const float*>(res), ldr, resRows, gelu, geluKind, geluCol0, geluCols,
                                    static_cast<float*>(gaux), ldg, static_cast<const float*>(gbias)}, dbias);
}

#endif  // HOPPER_KERNELS

extern "C" __global__ void __cluster_dims__(WG_CLUSTER, 1, 1) __launch_bounds__(WG_THREADS, 1)
gemm_bf16_wgmma(int form, const __grid_constant__ CUtensorMap mapA, const __grid_constant__ CUtensorMap mapB, void* C,
                long long ldc, int M, int N, int K, float beta, int outBf16, const void* __restrict__ bias,
                const void* res, long long ldr, int resRows, int gelu, int geluKind, int geluCol0, int geluCols,
                void* gaux, long long ldg, const void* __restrict__ gbias, float* dbias) {
#ifdef HOPPER_KERNELS
    if (form == MMA_NT)
        wg_gemm_out<true, true>(&mapA, &mapB, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu, geluKind,
                                geluCol0, geluCols, gaux, ldg, gbias, dbias);
    else if (form == MMA_NN)
        wg_gemm_out<true, false>(&mapA, &mapB, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu, geluKind,
                                 geluCol0, geluCols, gaux, ldg, gbias, dbias);
    else
        wg_gemm_out<false, false>(&mapA, &mapB, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu, geluKind,
                                  geluCol0, geluCols, gaux, ldg, gbias, dbias);
    cluster_sync();   // every thread of both CTAs: no CTA exits while its peer may still write its ring or barriers
#elif defined(__CUDA_ARCH__)
    __trap();   // not sm_90a (the compute_90 PTX JIT-compiled for a newer GPU): fail the launch, never a silent no-op
#endif
}
