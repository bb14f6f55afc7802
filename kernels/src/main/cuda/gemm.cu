// Tiled fp32 GEMM with fused epilogues: C (M x N) = A (M x K) * B (K x N), FFMA, fp32 accumulate.
// Operands are addressed through strides so one kernel serves every layout the model needs:
// A(m,k) = A[m*sam + k*sak], B(k,n) = B[k*sbk + n*sbn], C(m,n) = C[m*ldc + n] (row-major, ldc
// lets C be a column slice of a wider matrix). Epilogue, in this order:
//   v = acc (+ C_old if beta != 0) (+ bias[n]) (+ res[(m % resRows)*ldr + n]); C = v;
//   and, for n < geluCols, gout[m*ldg + n] = GELU(v + gbias[n])   (the in-projection's MLP
//   part: pre stays bias-free, as the Backend contract saves it).
// Launch: grid (ceil(N/64), ceil(M/64)), block 256; each thread computes a 4x4 micro-tile of
// the 64x64 block tile, walking K in steps of 16 through shared memory.
#include "common.cuh"

#define BM 64
#define BN 64
#define BK 16

extern "C" __global__ void __launch_bounds__(256)
gemm_f32(const float* __restrict__ A, long long sam, long long sak,
         const float* __restrict__ B, long long sbk, long long sbn,
         float* C, long long ldc, int M, int N, int K, float beta,
         const float* __restrict__ bias, const float* __restrict__ res, long long ldr, int resRows,
         float* gout, long long ldg, int geluCols, const float* __restrict__ gbias, int geluKind) {
    __shared__ float As[BK][BM + 4];
    __shared__ float Bs[BK][BN + 4];
    const int tid = threadIdx.x;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int tm = (tid / 16) * 4, tn = (tid % 16) * 4;
    float acc[4][4] = {};
    // Loading order chosen so consecutive threads read consecutive addresses.
    const bool aKFast = sak == 1, bNFast = sbn == 1;
    for (int k0 = 0; k0 < K; k0 += BK) {
        #pragma unroll
        for (int i = 0; i < 4; i++) {
            int e = tid + i * 256;          // 0 .. 1023 over a 64 x 16 tile
            int kk, mm;
            if (aKFast) { kk = e % BK; mm = e / BK; } else { mm = e % BM; kk = e / BM; }
            int gm = m0 + mm, gk = k0 + kk;
            As[kk][mm] = (gm < M && gk < K) ? A[gm * sam + gk * sak] : 0.0f;
            int nn;
            if (bNFast) { nn = e % BN; kk = e / BN; } else { kk = e % BK; nn = e / BK; }
            int gn = n0 + nn; gk = k0 + kk;
            Bs[kk][nn] = (gn < N && gk < K) ? B[gk * sbk + gn * sbn] : 0.0f;
        }
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[4], b[4];
            #pragma unroll
            for (int i = 0; i < 4; i++) { a[i] = As[kk][tm + i]; b[i] = Bs[kk][tn + i]; }
            #pragma unroll
            for (int i = 0; i < 4; i++)
                #pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + tm + i;
        if (m >= M) continue;
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tn + j;
            if (n >= N) continue;
            float v = acc[i][j];
            float* c = C + (long long)m * ldc + n;
            if (beta != 0.0f) v += *c;
            if (bias) v += bias[n];
            if (res) v += res[(long long)(m % resRows) * ldr + n];
            *c = v;
            if (n < geluCols) gout[(long long)m * ldg + n] = gelu_f(gbias ? v + gbias[n] : v, geluKind);
        }
    }
}
