// bf16 tensor-core GEMM for the three forms a training step needs, with fused epilogues:
//   C (M x N) = op(A) (M x K) op(B) (K x N), bf16 operands, fp32 accumulation (mma.sync m16n8k16).
// form MMA_NT (forward, out = x W^T):      A(m,k) = A[m*lda + k], B(k,n) = B[n*ldb + k]   (W is N x K, Linear layout)
// form MMA_NN (data gradient, dx = dy W):  A(m,k) = A[m*lda + k], B(k,n) = B[k*ldb + n]
// form MMA_TN (weight gradient, dW = dy^T x): A(m,k) = A[k*lda + m], B(k,n) = B[k*ldb + n]
// Epilogue: gemm_common.cuh's, per element, in fp32 (C, bias, res, gaux and gbias fp32, or all bf16
// when outBf16); and dbias != null: dbias[m] = (beta * dbias[m] if beta != 0) + sum_k A(m,k) (the bias
// gradient, always fp32: in TN, A = dy^T, its rows are dy's columns), summed in fp32 by the blocks of
// the first column tile.
// Operand loads: vecLoads != 0 copies every tile row with 16-byte cp.async (the host passes it only
// when A and B are 16-byte aligned and lda, ldb are multiples of 8 elements; a row's last partial
// 16 bytes are copied element by element); vecLoads == 0 loads the tiles element by element
// (any alignment and stride: e.g. a 10-class head's dy). Both zero-fill past M, N, K. K >= 1;
// M, N, K otherwise any (tile edges are predicated). Kernels.gemmBf16Mma chooses vecLoads.
// Launch: grid (ceil(N/MMA_BN), ceil(M/MMA_BM)), block MMA_THREADS = 8 warps as 2 (m) x 4 (n), each
// warp a 64 x 32 tile of 4 x 4 mma tiles (16 x 8); dynamic shared memory MMA_STAGES x (MMA_BM +
// MMA_BN) x MMA_BK bf16 = 64 KB, a MMA_STAGES-deep cp.async pipeline over K in steps of MMA_BK.
// Tiles are visited in gemm_common.cuh's grouped raster.
// Shared-memory tiles: K-contiguous ones as [row][32 k] with the 16-byte chunk index XOR
// ((row >> 1) & 3), row-contiguous ones as [k][128 rows] with the chunk index XOR (k & 7), so that
// the 8 rows one ldmatrix reads fall in 8 different bank groups.
#include "common.cuh"
#include "gemm_common.cuh"
#include "mma.cuh"
#include "elem.cuh"
#include <cuda_bf16.h>
#include <cuda_pipeline.h>

#define MMA_BM 128
#define MMA_BN 128
#define MMA_BK 32
#define MMA_STAGES 4
#define MMA_THREADS 256


// Element offsets in a stage's tiles (both tiles have 128 rows: MMA_BM == MMA_BN).
__device__ __forceinline__ int mma_kmajor(int row, int k) {
    return row * MMA_BK + ((((k >> 3) ^ (row >> 1)) & 3) << 3) + (k & 7);
}
__device__ __forceinline__ int mma_rmajor(int k, int row) {
    return k * MMA_BM + (((row >> 3) ^ (k & 7)) << 3) + (row & 7);
}

// One operand's tile of a stage: rows [r0, r0 + 128) (of rExt) x k [k0, k0 + MMA_BK) (of K).
// KMAJOR: element (r, k) at g[r*ld + k], else at g[k*ld + r]. 512 chunks of 8, 2 per thread.
// VEC: 16-byte cp.async per chunk (aligned rows); else plain element loads (any alignment).
template <bool KMAJOR, bool VEC>
__device__ __forceinline__ void mma_load_tile(__nv_bfloat16* s, const __nv_bfloat16* g, long long ld, int r0, int rExt,
                                              int k0, int K, int tid) {
    #pragma unroll
    for (int i = 0; i < 2; i++) {
        const int v = tid + i * MMA_THREADS;
        int off, outer, outerExt, c, cExt;
        if (KMAJOR) {
            const int r = v >> 2, kc = (v & 3) << 3;
            off = mma_kmajor(r, kc); outer = r0 + r; outerExt = rExt; c = k0 + kc; cExt = K;
        } else {
            const int k = v >> 4, rc = (v & 15) << 3;
            off = mma_rmajor(k, rc); outer = k0 + k; outerExt = K; c = r0 + rc; cExt = rExt;
        }
        __nv_bfloat16* dst = s + off;
        if (!VEC) {   // synchronous stores: visible to all after the barrier that precedes their reads
            const bool rowIn = outer < outerExt;
            const __nv_bfloat16* src = g + (long long)(rowIn ? outer : 0) * ld + c;
            #pragma unroll
            for (int e = 0; e < 8; e++) dst[e] = rowIn && c + e < cExt ? src[e] : __float2bfloat16(0.0f);
        } else if (outer < outerExt && c + 8 <= cExt) {
            __pipeline_memcpy_async(dst, g + (long long)outer * ld + c, 16);
        } else if (outer >= outerExt || c >= cExt) {
            *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
        } else {   // the row's last, partial chunk
            const __nv_bfloat16* src = g + (long long)outer * ld + c;
            #pragma unroll
            for (int e = 0; e < 8; e++) dst[e] = c + e < cExt ? src[e] : __float2bfloat16(0.0f);
        }
    }
}

// The epilogue over this thread's accumulators (see the fragment table in mma.cuh).
template <class T>
__device__ __forceinline__ void mma_epilogue(float (&acc)[4][4][4], int m0, int n0, int lane, int M, int N,
                                             const GemmEpilogue<T>& e) {
    const int g = lane >> 2, t = lane & 3;
    #pragma unroll
    for (int i = 0; i < 4; i++)
        #pragma unroll
        for (int h = 0; h < 2; h++) {
            const int m = m0 + i * 16 + g + h * 8;
            if (m >= M) continue;
            #pragma unroll
            for (int jn = 0; jn < 4; jn++)
                #pragma unroll
                for (int e2 = 0; e2 < 2; e2++) {
                    const int n = n0 + jn * 8 + 2 * t + e2;
                    if (n < N) gemm_epilogue_at(e, m, n, acc[i][jn][2 * h + e2]);
                }
        }
}

template <bool A_KMAJOR, bool B_KMAJOR, bool VEC>
__device__ __forceinline__ void mma_gemm(const __nv_bfloat16* __restrict__ A, long long lda,
                                         const __nv_bfloat16* __restrict__ B, long long ldb, void* C, long long ldc,
                                         int M, int N, int K, float beta, int outBf16, const void* __restrict__ bias,
                                         const void* res, long long ldr, int resRows, int gelu, int geluKind,
                                         int geluCol0, int geluCols, void* gaux, long long ldg,
                                         const void* __restrict__ gbias, float* dbias) {
    DYNAMIC_SHARED(__nv_bfloat16, mma_smem);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    int tm, tn;
    gemm_tile_of_block(tm, tn);
    const int m0 = tm * MMA_BM, n0 = tn * MMA_BN;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
    constexpr int STAGE = (MMA_BM + MMA_BN) * MMA_BK;
    const int kTiles = (K + MMA_BK - 1) / MMA_BK;

    auto load = [&](int tile) {
        if (tile < kTiles) {
            __nv_bfloat16* s = mma_smem + (tile % MMA_STAGES) * STAGE;
            mma_load_tile<A_KMAJOR, VEC>(s, A, lda, m0, M, tile * MMA_BK, K, tid);
            mma_load_tile<B_KMAJOR, VEC>(s + MMA_BM * MMA_BK, B, ldb, n0, N, tile * MMA_BK, K, tid);
        }
        __pipeline_commit();   // an empty group past the end keeps the wait count uniform
    };

    float acc[4][4][4];
    #pragma unroll
    for (int i = 0; i < 4; i++)
        #pragma unroll
        for (int j = 0; j < 4; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
    const bool rowSums = dbias != nullptr && tn == 0;
    float rowSum = 0.0f;

    #pragma unroll
    for (int s = 0; s < MMA_STAGES - 1; s++) load(s);
    const int j8 = lane >> 3, r8 = lane & 7;   // ldmatrix: this lane addresses row r8 of matrix j8
    for (int kt = 0; kt < kTiles; kt++) {
        __pipeline_wait_prior(MMA_STAGES - 2);   // tile kt has landed (this thread's copies)
        __syncthreads();                         // everyone's copies; and stage kt-1 is read by all
        load(kt + MMA_STAGES - 1);               // into the stage read in iteration kt-1
        const __nv_bfloat16* sA = mma_smem + (kt % MMA_STAGES) * STAGE;
        const __nv_bfloat16* sB = sA + MMA_BM * MMA_BK;
        if (rowSums && tid < MMA_BM) {
            #pragma unroll 8
            for (int k = 0; k < MMA_BK; k++)
                rowSum += __bfloat162float(sA[A_KMAJOR ? mma_kmajor(tid, k) : mma_rmajor(k, tid)]);
        }
        #pragma unroll
        for (int kk = 0; kk < MMA_BK; kk += 16) {
            unsigned af[4][4], bfr[4][2];
            #pragma unroll
            for (int i = 0; i < 4; i++) {
                // matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15)
                const int row = wm + i * 16 + (j8 & 1) * 8, k = kk + (j8 >> 1) * 8;
                if (A_KMAJOR) ldmatrix_x4(af[i], sA + mma_kmajor(row + r8, k));
                else ldmatrix_x4_trans(af[i], sA + mma_rmajor(k + r8, row));
            }
            #pragma unroll
            for (int p = 0; p < 2; p++) {
                // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
                const int col = wn + p * 16 + (j8 >> 1) * 8, k = kk + (j8 & 1) * 8;
                unsigned r[4];
                if (B_KMAJOR) ldmatrix_x4(r, sB + mma_kmajor(col + r8, k));
                else ldmatrix_x4_trans(r, sB + mma_rmajor(k + r8, col));
                bfr[2 * p][0] = r[0]; bfr[2 * p][1] = r[1];
                bfr[2 * p + 1][0] = r[2]; bfr[2 * p + 1][1] = r[3];
            }
            #pragma unroll
            for (int i = 0; i < 4; i++)
                #pragma unroll
                for (int j = 0; j < 4; j++) mma_bf16_16816(acc[i][j], af[i], bfr[j], acc[i][j]);
        }
    }
    __pipeline_wait_prior(0);   // only empty groups remain; retire them before the block exits

    if (rowSums && tid < MMA_BM && m0 + tid < M) {
        float* d = dbias + m0 + tid;
        *d = (beta != 0.0f ? beta * *d : 0.0f) + rowSum;
    }
    if (outBf16)
        mma_epilogue(acc, m0 + wm, n0 + wn, lane, M, N, GemmEpilogue<__nv_bfloat16>{beta, static_cast<__nv_bfloat16*>(C), ldc,
                     static_cast<const __nv_bfloat16*>(bias), static_cast<const __nv_bfloat16*>(res), ldr, resRows, gelu, geluKind, geluCol0, geluCols,
                     static_cast<__nv_bfloat16*>(gaux), ldg, static_cast<const __nv_bfloat16*>(gbias)});
    else
        mma_epilogue(acc, m0 + wm, n0 + wn, lane, M, N, GemmEpilogue<float>{beta, static_cast<float*>(C), ldc, static_cast<const float*>(bias),
                     static_cast<const float*>(res), ldr, resRows, gelu, geluKind, geluCol0, geluCols,
                     static_cast<float*>(gaux), ldg, static_cast<const float*>(gbias)});
}

#define MMA_FORM(AK, BK)                                                                                   \
    (vecLoads ? mma_gemm<AK, BK, true>(A, lda, B, ldb, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu,  \
                                        geluKind, geluCol0, geluCols, gaux, ldg, gbias, dbias)                      \
              : mma_gemm<AK, BK, false>(A, lda, B, ldb, C, ldc, M, N, K, beta, outBf16, bias, res, ldr, resRows, gelu, \
                                         geluKind, geluCol0, geluCols, gaux, ldg, gbias, dbias))

extern "C" __global__ void __launch_bounds__(MMA_THREADS)
gemm_bf16_mma(int form, int vecLoads, const __nv_bfloat16* __restrict__ A, long long lda,
              const __nv_bfloat16* __restrict__ B, long long ldb, void* C, long long ldc, int M, int N, int K, float beta,
              int outBf16, const void* __restrict__ bias, const void* res, long long ldr, int resRows, int gelu,
              int geluKind, int geluCol0, int geluCols, void* gaux, long long ldg, const void* __restrict__ gbias,
              float* dbias) {
    if (form == MMA_NT) MMA_FORM(true, true);
    else if (form == MMA_NN) MMA_FORM(true, false);
    else MMA_FORM(false, false);
}
#undef MMA_FORM
