// Row normalisation (RMS or centered LayerNorm, scale, optional bias) and the per-head QK-norm
// of the in-projection, forward and backward. Templates on the storage type T of the
// activations and weights (x, out, dout, dx, scale, bias; pre, q, k, v and their gradients,
// qScale, kScale), one extern "C" entry each: the float name and ..._bf16 (elem.cuh: exact
// widening, fp32 math and accumulation, one rounding per stored element). Statistics and the
// parameter gradients (dscale, dbias, dqScale, dkScale) are fp32 in both.
// norm_fwd and norm_bwd_dx move 16-byte vectors (4 floats, 8 bf16) when W is a multiple of the
// vector and x, out/dx, dout, scale, bias are 16-byte aligned; else one element at a time.
// norm_fwd / norm_bwd_dx: x (R, W) row-major; one block of 256 threads per row; stats (R, 2)
// holds [mean (0 when not centered), rstd].
// norm_bwd_params: dscale, dbias (W) += column sums; grid (ceil(W/32), row chunks), block (32, 8),
// partial sums combined with one atomicAdd per column per block.
// qknorm_fwd / qknorm_bwd: pre (T, ld) holds q, k, v at columns colQ, colQ + D, colQ + 2D;
// one warp per (token, head) row of hd <= 256 elements, 8 warps per block; q, k, v head-major
// (B, H, N, hd); stats (2, B, H, N, 2) for q then k.
#include "common.cuh"
#include "elem.cuh"

// f(i, m) over a row of W elements, the block's threads striding: whole 16-byte vectors
// (m = VEC<T>) when vec, else single elements (m = 1).
template <typename T, typename F> __device__ __forceinline__ void row_loop(int W, bool vec, F f) {
    if (vec)
        for (int c = threadIdx.x; c < W / VEC<T>; c += blockDim.x) f(c * VEC<T>, VEC<T>);
    else
        for (int i = threadIdx.x; i < W; i += blockDim.x) f(i, 1);
}

template <typename T>
__device__ __forceinline__ void norm_fwd_t(T* out, float* stats, const T* __restrict__ x, const T* __restrict__ scale,
                                           const T* __restrict__ bias, int W, int centered, float eps) {
    const long long r = blockIdx.x;
    const T* xr = x + r * W;
    T* o = out + r * W;
    const bool vec = W % VEC<T> == 0 && aligned16(x, out) && aligned16(scale, bias ? bias : scale);
    float mean = 0.0f;
    if (centered) {
        float s = 0.0f;
        row_loop<T>(W, vec, [&](int i, int m) {
            float xv[VEC<T>];
            ldn(xr + i, xv, m);
            for (int j = 0; j < m; j++) s += xv[j];
        });
        mean = block_sum(s) / W;
    }
    float ss = 0.0f;
    row_loop<T>(W, vec, [&](int i, int m) {
        float xv[VEC<T>];
        ldn(xr + i, xv, m);
        for (int j = 0; j < m; j++) { float d = xv[j] - mean; ss = fmaf(d, d, ss); }
    });
    float rstd = rsqrtf(block_sum(ss) / W + eps);
    row_loop<T>(W, vec, [&](int i, int m) {
        float xv[VEC<T>], sc[VEC<T>], bv[VEC<T>];
        ldn(xr + i, xv, m); ldn(scale + i, sc, m);
        if (bias) ldn(bias + i, bv, m);
        for (int j = 0; j < m; j++) {
            float y = (xv[j] - mean) * rstd * sc[j];
            xv[j] = bias ? y + bv[j] : y;
        }
        stn(o + i, xv, m);
    });
    if (threadIdx.x == 0) { stats[2 * r] = mean; stats[2 * r + 1] = rstd; }
}
extern "C" __global__ void __launch_bounds__(256)
norm_fwd(float* out, float* stats, const float* __restrict__ x, const float* __restrict__ scale,
         const float* __restrict__ bias, int W, int centered, float eps) { norm_fwd_t(out, stats, x, scale, bias, W, centered, eps); }
extern "C" __global__ void __launch_bounds__(256)
norm_fwd_bf16(__nv_bfloat16* out, float* stats, const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ scale,
              const __nv_bfloat16* __restrict__ bias, int W, int centered, float eps) {
    norm_fwd_t(out, stats, x, scale, bias, W, centered, eps);
}

// dx += rstd * (g - mean(g) [centered] - xhat * mean(g * xhat)), g = dout * scale.
template <typename T>
__device__ __forceinline__ void norm_bwd_dx_t(T* dx, const T* __restrict__ dout, const T* __restrict__ x,
                                              const T* __restrict__ scale, const float* __restrict__ stats, int W, int centered) {
    const long long r = blockIdx.x;
    const T* xr = x + r * W;
    const T* dr = dout + r * W;
    T* o = dx + r * W;
    const bool vec = W % VEC<T> == 0 && aligned16(dx, dout) && aligned16(x, scale);
    const float mean = stats[2 * r], rstd = stats[2 * r + 1];
    float sg = 0.0f, sgx = 0.0f;
    row_loop<T>(W, vec, [&](int i, int m) {
        float dv[VEC<T>], xv[VEC<T>], sc[VEC<T>];
        ldn(dr + i, dv, m); ldn(xr + i, xv, m); ldn(scale + i, sc, m);
        for (int j = 0; j < m; j++) {
            float g = dv[j] * sc[j], xh = (xv[j] - mean) * rstd;
            sg += g; sgx = fmaf(g, xh, sgx);
        }
    });
    float mg = centered ? block_sum(sg) / W : 0.0f;
    float mgx = block_sum(sgx) / W;
    row_loop<T>(W, vec, [&](int i, int m) {
        float dv[VEC<T>], xv[VEC<T>], sc[VEC<T>], acc[VEC<T>];
        ldn(dr + i, dv, m); ldn(xr + i, xv, m); ldn(scale + i, sc, m); ldn(o + i, acc, m);
        for (int j = 0; j < m; j++) {
            float g = dv[j] * sc[j], xh = (xv[j] - mean) * rstd;
            acc[j] += rstd * (g - mg - xh * mgx);
        }
        stn(o + i, acc, m);
    });
}
extern "C" __global__ void __launch_bounds__(256)
norm_bwd_dx(float* dx, const float* __restrict__ dout, const float* __restrict__ x, const float* __restrict__ scale,
            const float* __restrict__ stats, int W, int centered) { norm_bwd_dx_t(dx, dout, x, scale, stats, W, centered); }
extern "C" __global__ void __launch_bounds__(256)
norm_bwd_dx_bf16(__nv_bfloat16* dx, const __nv_bfloat16* __restrict__ dout, const __nv_bfloat16* __restrict__ x,
                 const __nv_bfloat16* __restrict__ scale, const float* __restrict__ stats, int W, int centered) {
    norm_bwd_dx_t(dx, dout, x, scale, stats, W, centered);
}

template <typename T>
__device__ __forceinline__ void norm_bwd_params_t(float* dscale, float* dbias, const T* __restrict__ dout, const T* __restrict__ x,
                                                  const float* __restrict__ stats, int R, int W) {
    __shared__ float ps[8][33], pb[8][33];
    const int w = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f, b = 0.0f;
    if (w < W)
        for (long long r = blockIdx.y * 8 + threadIdx.y; r < R; r += (long long)gridDim.y * 8) {
            float d = ld(dout + r * W + w);
            s = fmaf(d, (ld(x + r * W + w) - stats[2 * r]) * stats[2 * r + 1], s);
            b += d;
        }
    ps[threadIdx.y][threadIdx.x] = s; pb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && w < W) {
        for (int i = 1; i < 8; i++) { s += ps[i][threadIdx.x]; b += pb[i][threadIdx.x]; }
        atomicAdd(dscale + w, s);
        if (dbias) atomicAdd(dbias + w, b);
    }
}
extern "C" __global__ void
norm_bwd_params(float* dscale, float* dbias, const float* __restrict__ dout, const float* __restrict__ x,
                const float* __restrict__ stats, int R, int W) { norm_bwd_params_t(dscale, dbias, dout, x, stats, R, W); }
extern "C" __global__ void
norm_bwd_params_bf16(float* dscale, float* dbias, const __nv_bfloat16* __restrict__ dout, const __nv_bfloat16* __restrict__ x,
                     const float* __restrict__ stats, int R, int W) { norm_bwd_params_t(dscale, dbias, dout, x, stats, R, W); }

// One (token, head) row of hd values, normalised in registers: lane owns columns lane + 32c.
#define QK_MAXC 8

template <typename T>
__device__ __forceinline__ void qknorm_fwd_t(const T* __restrict__ pre, long long ldp, int colQ, const T* __restrict__ qs,
                                             const T* __restrict__ ks, T* q, T* k, T* v, float* stats,
                                             int B, int N, int H, int hd, int centered, float eps) {
    const int lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);   // t * H + h
    if (row >= (long long)B * N * H) return;
    const long long t = row / H; const int h = row % H;
    const long long b = t / N, n = t % N;
    const long long hm = ((b * H + h) * N + n) * hd;                   // head-major offset
    const int D = H * hd;
    for (int which = 0; which < 2; which++) {
        const T* src = pre + t * ldp + colQ + which * D + h * hd;
        const T* sc = which ? ks : qs;
        T* dst = which ? k : q;
        float xv[QK_MAXC];
        float s = 0.0f;
        #pragma unroll
        for (int c = 0; c < QK_MAXC; c++) { int d = lane + 32 * c; xv[c] = d < hd ? ld(src + d) : 0.0f; s += xv[c]; }
        float mean = centered ? warp_sum(s) / hd : 0.0f;
        float ss = 0.0f;
        #pragma unroll
        for (int c = 0; c < QK_MAXC; c++) { int d = lane + 32 * c; float e = d < hd ? xv[c] - mean : 0.0f; ss = fmaf(e, e, ss); }
        float rstd = rsqrtf(warp_sum(ss) / hd + eps);
        #pragma unroll
        for (int c = 0; c < QK_MAXC; c++) { int d = lane + 32 * c; if (d < hd) st(dst + hm + d, (xv[c] - mean) * rstd * ld(sc + d)); }
        if (lane == 0) {
            long long si = ((long long)which * B * H * N + (b * H + h) * N + n) * 2;
            stats[si] = mean; stats[si + 1] = rstd;
        }
    }
    const T* vs = pre + t * ldp + colQ + 2 * D + h * hd;
    for (int d = lane; d < hd; d += 32) v[hm + d] = vs[d];   // a copy: no rounding
}
extern "C" __global__ void __launch_bounds__(256)
qknorm_fwd(const float* __restrict__ pre, long long ld, int colQ, const float* __restrict__ qs,
           const float* __restrict__ ks, float* q, float* k, float* v, float* stats,
           int B, int N, int H, int hd, int centered, float eps) {
    qknorm_fwd_t(pre, ld, colQ, qs, ks, q, k, v, stats, B, N, H, hd, centered, eps);
}
extern "C" __global__ void __launch_bounds__(256)
qknorm_fwd_bf16(const __nv_bfloat16* __restrict__ pre, long long ld, int colQ, const __nv_bfloat16* __restrict__ qs,
                const __nv_bfloat16* __restrict__ ks, __nv_bfloat16* q, __nv_bfloat16* k, __nv_bfloat16* v, float* stats,
                int B, int N, int H, int hd, int centered, float eps) {
    qknorm_fwd_t(pre, ld, colQ, qs, ks, q, k, v, stats, B, N, H, hd, centered, eps);
}

// Writes (not accumulates) dpre's q, k, v columns from dq, dk (w.r.t. normalised values) and dv;
// accumulates dqScale, dkScale (hd) through a per-block shared sum then one atomicAdd each.
template <typename T>
__device__ __forceinline__ void qknorm_bwd_t(T* dpre, long long ldp, int colQ, const T* __restrict__ pre,
                                             const T* __restrict__ dq, const T* __restrict__ dk, const T* __restrict__ dv,
                                             const T* __restrict__ qs, const T* __restrict__ ks, const float* __restrict__ stats,
                                             float* dqs, float* dks, int B, int N, int H, int hd, int centered) {
    __shared__ float part[2][256];
    for (int i = threadIdx.x; i < 2 * 256; i += blockDim.x) (&part[0][0])[i] = 0.0f;
    __syncthreads();
    const int lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (row < (long long)B * N * H) {
        const long long t = row / H; const int h = row % H;
        const long long b = t / N, n = t % N;
        const long long hm = ((b * H + h) * N + n) * hd;
        const int D = H * hd;
        for (int which = 0; which < 2; which++) {
            const T* src = pre + t * ldp + colQ + which * D + h * hd;
            T* dst = dpre + t * ldp + colQ + which * D + h * hd;
            const T* sc = which ? ks : qs;
            const T* dn = (which ? dk : dq) + hm;
            long long si = ((long long)which * B * H * N + (b * H + h) * N + n) * 2;
            const float mean = stats[si], rstd = stats[si + 1];
            float xh[QK_MAXC], g[QK_MAXC];
            float sg = 0.0f, sgx = 0.0f;
            #pragma unroll
            for (int c = 0; c < QK_MAXC; c++) {
                int d = lane + 32 * c;
                xh[c] = d < hd ? (ld(src + d) - mean) * rstd : 0.0f;
                float dd = d < hd ? ld(dn + d) : 0.0f;
                g[c] = d < hd ? dd * ld(sc + d) : 0.0f;
                sg += g[c]; sgx = fmaf(g[c], xh[c], sgx);
                if (d < hd) atomicAdd(&part[which][d], dd * xh[c]);
            }
            float mg = centered ? warp_sum(sg) / hd : 0.0f;
            float mgx = warp_sum(sgx) / hd;
            #pragma unroll
            for (int c = 0; c < QK_MAXC; c++) {
                int d = lane + 32 * c;
                if (d < hd) st(dst + d, rstd * (g[c] - mg - xh[c] * mgx));
            }
        }
        T* dvd = dpre + t * ldp + colQ + 2 * D + h * hd;
        for (int d = lane; d < hd; d += 32) dvd[d] = dv[hm + d];   // a copy: no rounding
    }
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        atomicAdd(dqs + d, part[0][d]);
        atomicAdd(dks + d, part[1][d]);
    }
}
extern "C" __global__ void __launch_bounds__(256)
qknorm_bwd(float* dpre, long long ld, int colQ, const float* __restrict__ pre,
           const float* __restrict__ dq, const float* __restrict__ dk, const float* __restrict__ dv,
           const float* __restrict__ qs, const float* __restrict__ ks, const float* __restrict__ stats,
           float* dqs, float* dks, int B, int N, int H, int hd, int centered) {
    qknorm_bwd_t(dpre, ld, colQ, pre, dq, dk, dv, qs, ks, stats, dqs, dks, B, N, H, hd, centered);
}
extern "C" __global__ void __launch_bounds__(256)
qknorm_bwd_bf16(__nv_bfloat16* dpre, long long ld, int colQ, const __nv_bfloat16* __restrict__ pre,
                const __nv_bfloat16* __restrict__ dq, const __nv_bfloat16* __restrict__ dk, const __nv_bfloat16* __restrict__ dv,
                const __nv_bfloat16* __restrict__ qs, const __nv_bfloat16* __restrict__ ks, const float* __restrict__ stats,
                float* dqs, float* dks, int B, int N, int H, int hd, int centered) {
    qknorm_bwd_t(dpre, ld, colQ, pre, dq, dk, dv, qs, ks, stats, dqs, dks, B, N, H, hd, centered);
}
