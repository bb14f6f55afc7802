// Tiled fp32 GEMM with fused epilogues: C (M x N) = A (M x K) * B (K x N), FFMA, fp32 accumulate.
// Operands are addressed through strides so one kernel serves every layout the model needs:
// A(m,k) = A[m*sam + k*sak], B(k,n) = B[k*sbk + n*sbn], C(m,n) = C[m*ldc + n] (row-major, ldc
// lets C be a column slice of a wider matrix). Epilogue, in this order:
//   v = acc (+ C_old if beta != 0) (+ bias[n]) (+ res[(m % resRows)*ldr + n]); C = v;
//   and, for n < geluCols, gout[m*ldg + n] = GELU(v + gbias[n])   (the in-projection's MLP
//   part: pre stays bias-free, as the Backend contract saves it).
// res may alias C (the out-projection adds the residual x in place, out == x): each element's
// res read and C write happen in one thread, in that order, so aliasing is safe, and res is
// therefore not __restrict__ (restrict would let the compiler assume the two never overlap).
// Launch: grid (ceil(N/128), ceil(M/128)), block 256. The 128 x 128 block tile walks K in steps
// of 16 through shared memory; each thread owns an 8 x 8 micro-tile made of rows
// {r, r+64} x 4 and columns {c, c+64} x 4, so that a warp's 16-byte shared-memory reads of a
// k-slice are contiguous (no bank conflicts). Global loads go along whichever of m/k (A) or
// k/n (B) is contiguous, so consecutive threads read consecutive addresses.
#include "common.cuh"

#define BM 128
#define BN 128
#define BK 16

extern "C" __global__ void __launch_bounds__(256)
gemm_f32(const float* __restrict__ A, long long sam, long long sak,
         const float* __restrict__ B, long long sbk, long long sbn,
         float* C, long long ldc, int M, int N, int K, float beta,
         const float* __restrict__ bias, const float* res, long long ldr, int resRows,
         float* gout, long long ldg, int geluCols, const float* __restrict__ gbias, int geluKind) {
    __shared__ __align__(16) float As[BK][BM + 4];
    __shared__ __align__(16) float Bs[BK][BN + 4];
    const int tid = threadIdx.x;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int tm = (tid / 16) * 4, tn = (tid % 16) * 4;   // rows tm + {0..3, 64..67}, cols tn + {0..3, 64..67}
    float acc[8][8] = {};
    const bool aKFast = sak == 1, bNFast = sbn == 1;
    for (int k0 = 0; k0 < K; k0 += BK) {
        #pragma unroll
        for (int i = 0; i < 8; i++) {
            int e = tid + i * 256;          // 0 .. 2047 over a 128 x 16 tile
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
            float4 a0 = *reinterpret_cast<const float4*>(&As[kk][tm]);
            float4 a1 = *reinterpret_cast<const float4*>(&As[kk][tm + 64]);
            float4 b0 = *reinterpret_cast<const float4*>(&Bs[kk][tn]);
            float4 b1 = *reinterpret_cast<const float4*>(&Bs[kk][tn + 64]);
            float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
            #pragma unroll
            for (int i = 0; i < 8; i++)
                #pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 8; i++) {
        int m = m0 + tm + (i & 3) + (i >> 2) * 64;
        if (m >= M) continue;
        #pragma unroll
        for (int j = 0; j < 8; j++) {
            int n = n0 + tn + (j & 3) + (j >> 2) * 64;
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
