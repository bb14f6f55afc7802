// bf16 tensor-core GEMM (WMMA 16x16x16, fp32 accumulate) with the same fused epilogue as
// gemm_f32, for the forward projections in bf16 storage: C (M x N) = A (M x K) W^T where A is
// row-major (lda) and W is N x K row-major (ldw, PyTorch's Linear layout), both bf16.
// Epilogue in fp32: v = acc (+ bias[n], fp32) (+ res[(m % resRows)*ldr + n], bf16);
// C[m*ldc + n] = bf16(v); for n < geluCols also gout[m*ldg + n] = bf16(GELU(v + gbias[n])).
// res may alias C (in-place residual), so it is not __restrict__: see gemm.cu.
// Needs K % 32 == 0 and lda, ldw % 8 == 0 (16-byte loads); any M, N.
// Launch: grid (ceil(N/128), ceil(M/128)), block 256 = 8 warps as 2 (m) x 4 (n), each warp a
// 64 x 32 tile (4 x 2 fragments); K in steps of 32 through a 2-stage cp.async pipeline
// (40 KB of shared memory). Uses mma.sync (HMMA) on sm_80 and sm_90; no wgmma yet.
#include "common.cuh"
#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <mma.h>

#define TB_M 128
#define TB_N 128
#define TB_K 32
#define TB_LD (TB_K + 8)   // bf16 elements per smem row: 80 bytes, keeps 16-byte alignment

extern "C" __global__ void __launch_bounds__(256)
gemm_bf16(const __nv_bfloat16* __restrict__ A, long long lda, const __nv_bfloat16* __restrict__ W, long long ldw,
          __nv_bfloat16* C, long long ldc, int M, int N, int K,
          const float* __restrict__ bias, const __nv_bfloat16* res, long long ldr, int resRows,
          __nv_bfloat16* gout, long long ldg, int geluCols, const float* __restrict__ gbias, int geluKind) {
    using namespace nvcuda;
    __shared__ __align__(128) __nv_bfloat16 smem[2][2][TB_M * TB_LD];   // [stage][A or W][row * TB_LD + k]
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int m0 = blockIdx.y * TB_M, n0 = blockIdx.x * TB_N;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;

    // Each thread copies 2 x 16 bytes of A and of W per stage: row = v / 4, k-chunk = v % 4.
    auto load = [&](int stage, int k0) {
        #pragma unroll
        for (int i = 0; i < 2; i++) {
            int v = tid + i * 256, row = v >> 2, kc = (v & 3) * 8;
            __nv_bfloat16* da = &smem[stage][0][row * TB_LD + kc];
            __nv_bfloat16* dw = &smem[stage][1][row * TB_LD + kc];
            if (m0 + row < M) __pipeline_memcpy_async(da, A + (long long)(m0 + row) * lda + k0 + kc, 16);
            else *reinterpret_cast<uint4*>(da) = make_uint4(0, 0, 0, 0);
            if (n0 + row < N) __pipeline_memcpy_async(dw, W + (long long)(n0 + row) * ldw + k0 + kc, 16);
            else *reinterpret_cast<uint4*>(dw) = make_uint4(0, 0, 0, 0);
        }
        __pipeline_commit();
    };

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
    #pragma unroll
    for (int i = 0; i < 4; i++)
        #pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    const int steps = K / TB_K;
    load(0, 0);
    for (int s = 0; s < steps; s++) {
        if (s + 1 < steps) { load((s + 1) & 1, (s + 1) * TB_K); __pipeline_wait_prior(1); }
        else __pipeline_wait_prior(0);
        __syncthreads();
        const __nv_bfloat16* As = smem[s & 1][0];
        const __nv_bfloat16* Ws = smem[s & 1][1];
        #pragma unroll
        for (int kk = 0; kk < TB_K; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb[2];
            #pragma unroll
            for (int i = 0; i < 4; i++) wmma::load_matrix_sync(fa[i], As + (wm + 16 * i) * TB_LD + kk, TB_LD);
            #pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], Ws + (wn + 16 * j) * TB_LD + kk, TB_LD);
            #pragma unroll
            for (int i = 0; i < 4; i++)
                #pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();   // the stage just read is overwritten by the load two steps on
    }

    // Epilogue: one 16 x 16 fragment at a time through a per-warp fp32 staging tile.
    float* stage = reinterpret_cast<float*>(&smem[0][0][0]) + warp * 256;
    #pragma unroll
    for (int i = 0; i < 4; i++)
        #pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            #pragma unroll
            for (int e = lane; e < 256; e += 32) {
                int m = m0 + wm + 16 * i + (e >> 4), n = n0 + wn + 16 * j + (e & 15);
                if (m < M && n < N) {
                    float v = stage[e];
                    if (bias) v += bias[n];
                    if (res) v += __bfloat162float(res[(long long)(m % resRows) * ldr + n]);
                    C[(long long)m * ldc + n] = __float2bfloat16(v);
                    if (n < geluCols)
                        gout[(long long)m * ldg + n] = __float2bfloat16(gelu_f(gbias ? v + gbias[n] : v, geluKind));
                }
            }
            __syncwarp();
        }
}
