// Flash-style softmax attention on CUDA cores (FFMA), no mask, scale 1/sqrt(hd); the N x N
// probabilities are never written to memory. Templated on the storage type T of q, k, v, out,
// dout, dq, dk, dv (float, or bf16 with elem.cuh's one rounding per stored element); lse and
// delta are fp32 in both, and so are the shared-memory tiles, the softmax state and every
// accumulation: the bf16 instantiation computes what the float one computes on bf16 values. It
// serves the head dims the tensor-core kernels (attention_bf16.cu) are not built for.
// Entries, one per instantiation: attn_fwd, attn_bwd_delta, attn_bwd_dq, attn_bwd_dkdv (float)
// and attn_fwd_simt_bf16, attn_bwd_delta_bf16, attn_bwd_dq_simt_bf16, attn_bwd_dkdv_simt_bf16
// (bf16; the delta kernel serves the tensor-core backward too).
// Layouts: q (B, H, Nq, hd), k and v (B, H, Nk, hd) head-major; out and dout token-major
// (B*Nq, ldo) with head h at columns [h*hd, (h+1)*hd); lse (B, H, Nq). hd <= 256 (each lane owns
// hd/32 <= 8 output columns), any Nq, Nk. dq, dk, dv are accumulated: each element is read, added
// to in fp32 and stored (rounded) once, by the one thread that owns it.
// Forward: one warp per query row, ROWS warps per block sharing 32-key tiles of K and V in
// dynamic shared memory (2 * 32 * (hd+1) floats; the +1 pad spreads a lane's key over banks).
// Lane j scores key j of a tile, an online softmax rescales the running output.
// Backward, without atomics: attn_bwd_dq walks keys per query row like the forward;
// attn_bwd_dkdv walks queries per key row (lane i takes query i of a 32-query tile).
// Launch: grid.x = B*H * ceil(Nq/ROWS) [dkdv: ceil(Nk/ROWS)] (block x covers head bh = x / tiles,
// rows (x % tiles) * ROWS ...), block 32*ROWS. One flat x dimension, not (tiles, B*H) on (x, y):
// grid.y stops at 65,535 = 1,365 images of 48 heads; x reaches 2^31-1. Row tiles of one head are
// adjacent block ids, so blocks running together share that head's K and V in L2.
#include "common.cuh"
#include "elem.cuh"

#define ROWS 8
#define TILE 32
#define MAXC 8   // hd / 32 at most

template <typename T>
__device__ __forceinline__ void attn_fwd_t(T* out, long long ldo, float* lse, const T* __restrict__ q,
                                           const T* __restrict__ k, const T* __restrict__ v, int H, int Nq, int Nk,
                                           int hd, float scale) {
    DYNAMIC_SHARED(float, sm);
    const int P = hd + 1;
    float* Ks = sm;                 // [TILE][P]
    float* Vs = sm + TILE * P;      // [TILE][P]
    float* Qs = Vs + TILE * P;      // [ROWS][hd]
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int tiles = (Nq + ROWS - 1) / ROWS;
    const int bh = blockIdx.x / tiles, row = (blockIdx.x % tiles) * ROWS + w;
    const bool live = row < Nq;
    const T* qb = q + ((long long)bh * Nq) * hd;
    const T* kb = k + ((long long)bh * Nk) * hd;
    const T* vb = v + ((long long)bh * Nk) * hd;
    for (int d = lane; d < hd; d += 32) Qs[w * hd + d] = live ? ld(qb + (long long)row * hd + d) * scale : 0.0f;
    float acc[MAXC];
    #pragma unroll
    for (int c = 0; c < MAXC; c++) acc[c] = 0.0f;
    float mx = -INFINITY, l = 0.0f;
    for (int t0 = 0; t0 < Nk; t0 += TILE) {
        __syncthreads();
        for (int e = threadIdx.x; e < TILE * hd; e += blockDim.x) {
            int j = e / hd, d = e % hd, key = t0 + j;
            Ks[j * P + d] = key < Nk ? ld(kb + (long long)key * hd + d) : 0.0f;
            Vs[j * P + d] = key < Nk ? ld(vb + (long long)key * hd + d) : 0.0f;
        }
        __syncthreads();
        float s = -INFINITY;
        if (t0 + lane < Nk) {
            s = 0.0f;
            for (int d = 0; d < hd; d++) s = fmaf(Qs[w * hd + d], Ks[lane * P + d], s);
        }
        float mNew = fmaxf(mx, warp_max(s));
        float p = t0 + lane < Nk ? expf(s - mNew) : 0.0f;
        float corr = expf(mx - mNew);   // 0 on the first tile (mx = -inf)
        l = l * corr + warp_sum(p);
        mx = mNew;
        #pragma unroll
        for (int c = 0; c < MAXC; c++) acc[c] *= corr;
        int jn = min(TILE, Nk - t0);
        for (int j = 0; j < jn; j++) {
            float pj = __shfl_sync(0xffffffffu, p, j);
            #pragma unroll
            for (int c = 0; c < MAXC; c++) {
                int d = lane + 32 * c;
                if (d < hd) acc[c] = fmaf(pj, Vs[j * P + d], acc[c]);
            }
        }
    }
    if (!live) return;
    const int b = bh / H, h = bh % H;
    T* o = out + ((long long)b * Nq + row) * ldo + (long long)h * hd;
    float inv = 1.0f / l;
    #pragma unroll
    for (int c = 0; c < MAXC; c++) {
        int d = lane + 32 * c;
        if (d < hd) st(o + d, acc[c] * inv);
    }
    if (lane == 0) lse[(long long)bh * Nq + row] = mx + logf(l);
}

// delta (B, H, Nq) = rowsum(dout * out) per head: the softmax backward's correction term.
// Launch: grid.x = B*H * ceil(Nq/ROWS) as above, block 32*ROWS; one warp per row.
template <typename T>
__device__ __forceinline__ void attn_bwd_delta_t(float* delta, const T* __restrict__ out, const T* __restrict__ dout,
                                                 long long ldo, int H, int Nq, int hd) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int tiles = (Nq + ROWS - 1) / ROWS;
    const int bh = blockIdx.x / tiles, row = (blockIdx.x % tiles) * ROWS + w;
    if (row >= Nq) return;
    const int b = bh / H, h = bh % H;
    long long base = ((long long)b * Nq + row) * ldo + (long long)h * hd;
    float s = 0.0f;
    for (int d = lane; d < hd; d += 32) s = fmaf(ld(out + base + d), ld(dout + base + d), s);
    s = warp_sum(s);
    if (lane == 0) delta[(long long)bh * Nq + row] = s;
}

// dq += scale * sum_j P_ij (dO_i . v_j - delta_i) k_j, one warp per query row.
// Shared memory: K and V tiles [TILE][hd+1] each, then q and dout rows [ROWS][hd] each.
template <typename T>
__device__ __forceinline__ void attn_bwd_dq_t(T* dq, const T* __restrict__ dout, long long ldo, const float* __restrict__ lse,
                                              const float* __restrict__ delta, const T* __restrict__ q,
                                              const T* __restrict__ k, const T* __restrict__ v, int H, int Nq, int Nk,
                                              int hd, float scale) {
    DYNAMIC_SHARED(float, sm);
    const int P = hd + 1;
    float* Ks = sm;
    float* Vs = Ks + TILE * P;
    float* Qs = Vs + TILE * P;
    float* Ds = Qs + ROWS * hd;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int tiles = (Nq + ROWS - 1) / ROWS;
    const int bh = blockIdx.x / tiles, row = (blockIdx.x % tiles) * ROWS + w;
    const bool live = row < Nq;
    const int b = bh / H, h = bh % H;
    const T* kb = k + ((long long)bh * Nk) * hd;
    const T* vb = v + ((long long)bh * Nk) * hd;
    long long obase = ((long long)b * Nq + row) * ldo + (long long)h * hd;
    for (int d = lane; d < hd; d += 32) {
        Qs[w * hd + d] = live ? ld(q + ((long long)bh * Nq + row) * hd + d) * scale : 0.0f;
        Ds[w * hd + d] = live ? ld(dout + obase + d) : 0.0f;
    }
    const float L = live ? lse[(long long)bh * Nq + row] : 0.0f;
    const float dl = live ? delta[(long long)bh * Nq + row] : 0.0f;
    float acc[MAXC];
    #pragma unroll
    for (int c = 0; c < MAXC; c++) acc[c] = 0.0f;
    for (int t0 = 0; t0 < Nk; t0 += TILE) {
        __syncthreads();
        for (int e = threadIdx.x; e < TILE * hd; e += blockDim.x) {
            int j = e / hd, d = e % hd, key = t0 + j;
            Ks[j * P + d] = key < Nk ? ld(kb + (long long)key * hd + d) : 0.0f;
            Vs[j * P + d] = key < Nk ? ld(vb + (long long)key * hd + d) : 0.0f;
        }
        __syncthreads();
        float ds = 0.0f;
        if (t0 + lane < Nk) {
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < hd; d++) {
                s = fmaf(Qs[w * hd + d], Ks[lane * P + d], s);
                dp = fmaf(Ds[w * hd + d], Vs[lane * P + d], dp);
            }
            float p = expf(s - L);
            ds = p * (dp - dl);
        }
        int jn = min(TILE, Nk - t0);
        for (int j = 0; j < jn; j++) {
            float dsj = __shfl_sync(0xffffffffu, ds, j);
            #pragma unroll
            for (int c = 0; c < MAXC; c++) {
                int d = lane + 32 * c;
                if (d < hd) acc[c] = fmaf(dsj, Ks[j * P + d], acc[c]);
            }
        }
    }
    if (!live) return;
    T* o = dq + ((long long)bh * Nq + row) * hd;
    #pragma unroll
    for (int c = 0; c < MAXC; c++) {
        int d = lane + 32 * c;
        if (d < hd) st(o + d, ld(o + d) + acc[c] * scale);
    }
}

// dk_j += scale * sum_i dS_ij q_i and dv_j += sum_i P_ij dO_i, one warp per key row.
// Shared memory: q and dout tiles [TILE][hd+1] each, lse and delta [TILE] each, then
// k and v rows [ROWS][hd] each.
template <typename T>
__device__ __forceinline__ void attn_bwd_dkdv_t(T* dk, T* dv, const T* __restrict__ dout, long long ldo,
                                                const float* __restrict__ lse, const float* __restrict__ delta,
                                                const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                int H, int Nq, int Nk, int hd, float scale) {
    DYNAMIC_SHARED(float, sm);
    const int P = hd + 1;
    float* Qs = sm;
    float* Os = Qs + TILE * P;
    float* Ls = Os + TILE * P;
    float* Dl = Ls + TILE;
    float* Kr = Dl + TILE;
    float* Vr = Kr + ROWS * hd;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int tiles = (Nk + ROWS - 1) / ROWS;
    const int bh = blockIdx.x / tiles, key = (blockIdx.x % tiles) * ROWS + w;
    const bool live = key < Nk;
    const int b = bh / H, h = bh % H;
    const T* qb = q + ((long long)bh * Nq) * hd;
    for (int d = lane; d < hd; d += 32) {
        Kr[w * hd + d] = live ? ld(k + ((long long)bh * Nk + key) * hd + d) : 0.0f;
        Vr[w * hd + d] = live ? ld(v + ((long long)bh * Nk + key) * hd + d) : 0.0f;
    }
    float ak[MAXC], av[MAXC];
    #pragma unroll
    for (int c = 0; c < MAXC; c++) { ak[c] = 0.0f; av[c] = 0.0f; }
    for (int t0 = 0; t0 < Nq; t0 += TILE) {
        __syncthreads();
        for (int e = threadIdx.x; e < TILE * hd; e += blockDim.x) {
            int i = e / hd, d = e % hd, qr = t0 + i;
            Qs[i * P + d] = qr < Nq ? ld(qb + (long long)qr * hd + d) * scale : 0.0f;
            Os[i * P + d] = qr < Nq ? ld(dout + ((long long)b * Nq + qr) * ldo + (long long)h * hd + d) : 0.0f;
        }
        for (int i = threadIdx.x; i < TILE; i += blockDim.x) {
            int qr = t0 + i;
            Ls[i] = qr < Nq ? lse[(long long)bh * Nq + qr] : 0.0f;
            Dl[i] = qr < Nq ? delta[(long long)bh * Nq + qr] : 0.0f;
        }
        __syncthreads();
        float p = 0.0f, ds = 0.0f;
        if (t0 + lane < Nq) {
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < hd; d++) {
                s = fmaf(Qs[lane * P + d], Kr[w * hd + d], s);
                dp = fmaf(Os[lane * P + d], Vr[w * hd + d], dp);
            }
            p = expf(s - Ls[lane]);
            ds = p * (dp - Dl[lane]);
        }
        int in = min(TILE, Nq - t0);
        for (int i = 0; i < in; i++) {
            float pi = __shfl_sync(0xffffffffu, p, i);
            float dsi = __shfl_sync(0xffffffffu, ds, i);
            #pragma unroll
            for (int c = 0; c < MAXC; c++) {
                int d = lane + 32 * c;
                if (d < hd) {
                    av[c] = fmaf(pi, Os[i * P + d], av[c]);
                    ak[c] = fmaf(dsi, Qs[i * P + d], ak[c]);   // Qs already holds q * scale
                }
            }
        }
    }
    if (!live) return;
    long long base = ((long long)bh * Nk + key) * hd;
    #pragma unroll
    for (int c = 0; c < MAXC; c++) {
        int d = lane + 32 * c;
        if (d < hd) {
            st(dk + base + d, ld(dk + base + d) + ak[c]);
            st(dv + base + d, ld(dv + base + d) + av[c]);
        }
    }
}

// The entries, one per kernel and storage type (written out: the build and the tests parse them).
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_fwd(float* out, long long ldo, float* lse, const float* __restrict__ q, const float* __restrict__ k,
         const float* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    attn_fwd_t(out, ldo, lse, q, k, v, H, Nq, Nk, hd, scale);
}
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_bwd_delta(float* delta, const float* __restrict__ out, const float* __restrict__ dout, long long ldo, int H, int Nq, int hd) {
    attn_bwd_delta_t(delta, out, dout, ldo, H, Nq, hd);
}
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_bwd_dq(float* dq, const float* __restrict__ dout, long long ldo, const float* __restrict__ lse,
            const float* __restrict__ delta, const float* __restrict__ q, const float* __restrict__ k,
            const float* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    attn_bwd_dq_t(dq, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, hd, scale);
}
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_bwd_dkdv(float* dk, float* dv, const float* __restrict__ dout, long long ldo, const float* __restrict__ lse,
              const float* __restrict__ delta, const float* __restrict__ q, const float* __restrict__ k,
              const float* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    attn_bwd_dkdv_t(dk, dv, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, hd, scale);
}

extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_fwd_simt_bf16(__nv_bfloat16* out, long long ldo, float* lse, const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                   const __nv_bfloat16* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    attn_fwd_t(out, ldo, lse, q, k, v, H, Nq, Nk, hd, scale);
}
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_bwd_delta_bf16(float* delta, const __nv_bfloat16* __restrict__ out, const __nv_bfloat16* __restrict__ dout, long long ldo, int H, int Nq, int hd) {
    attn_bwd_delta_t(delta, out, dout, ldo, H, Nq, hd);
}
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_bwd_dq_simt_bf16(__nv_bfloat16* dq, const __nv_bfloat16* __restrict__ dout, long long ldo, const float* __restrict__ lse,
                      const float* __restrict__ delta, const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                      const __nv_bfloat16* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    attn_bwd_dq_t(dq, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, hd, scale);
}
extern "C" __global__ void __launch_bounds__(32 * ROWS)
attn_bwd_dkdv_simt_bf16(__nv_bfloat16* dk, __nv_bfloat16* dv, const __nv_bfloat16* __restrict__ dout, long long ldo, const float* __restrict__ lse,
                        const float* __restrict__ delta, const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                        const __nv_bfloat16* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    attn_bwd_dkdv_t(dk, dv, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, hd, scale);
}
