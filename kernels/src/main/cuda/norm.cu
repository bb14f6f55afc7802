// Row normalisation (RMS or centered LayerNorm, scale, optional bias) and the per-head QK-norm
// of the in-projection, forward and backward, fp32.
// norm_fwd / norm_bwd_dx: x (R, W) row-major; one block of 256 threads per row; stats (R, 2)
// holds [mean (0 when not centered), rstd].
// norm_bwd_params: dscale, dbias (W) += column sums; grid (ceil(W/32), row chunks), block (32, 8),
// partial sums combined with one atomicAdd per column per block.
// qknorm_fwd / qknorm_bwd: pre (T, ld) holds q, k, v at columns colQ, colQ + D, colQ + 2D;
// one warp per (token, head) row of hd <= 256 elements, 8 warps per block; q, k, v head-major
// (B, H, N, hd); stats (2, B, H, N, 2) for q then k.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256)
norm_fwd(float* out, float* stats, const float* __restrict__ x, const float* __restrict__ scale,
         const float* __restrict__ bias, int W, int centered, float eps) {
    const long long r = blockIdx.x;
    const float* xr = x + r * W;
    float mean = 0.0f;
    if (centered) {
        float s = 0.0f;
        for (int i = threadIdx.x; i < W; i += blockDim.x) s += xr[i];
        mean = block_sum(s) / W;
    }
    float ss = 0.0f;
    for (int i = threadIdx.x; i < W; i += blockDim.x) { float d = xr[i] - mean; ss = fmaf(d, d, ss); }
    float rstd = rsqrtf(block_sum(ss) / W + eps);
    float* o = out + r * W;
    for (int i = threadIdx.x; i < W; i += blockDim.x) {
        float y = (xr[i] - mean) * rstd * scale[i];
        o[i] = bias ? y + bias[i] : y;
    }
    if (threadIdx.x == 0) { stats[2 * r] = mean; stats[2 * r + 1] = rstd; }
}

// dx += rstd * (g - mean(g) [centered] - xhat * mean(g * xhat)), g = dout * scale.
extern "C" __global__ void __launch_bounds__(256)
norm_bwd_dx(float* dx, const float* __restrict__ dout, const float* __restrict__ x, const float* __restrict__ scale,
            const float* __restrict__ stats, int W, int centered) {
    const long long r = blockIdx.x;
    const float* xr = x + r * W;
    const float* dr = dout + r * W;
    const float mean = stats[2 * r], rstd = stats[2 * r + 1];
    float sg = 0.0f, sgx = 0.0f;
    for (int i = threadIdx.x; i < W; i += blockDim.x) {
        float g = dr[i] * scale[i], xh = (xr[i] - mean) * rstd;
        sg += g; sgx = fmaf(g, xh, sgx);
    }
    float mg = centered ? block_sum(sg) / W : 0.0f;
    float mgx = block_sum(sgx) / W;
    float* o = dx + r * W;
    for (int i = threadIdx.x; i < W; i += blockDim.x) {
        float g = dr[i] * scale[i], xh = (xr[i] - mean) * rstd;
        o[i] += rstd * (g - mg - xh * mgx);
    }
}

extern "C" __global__ void
norm_bwd_params(float* dscale, float* dbias, const float* __restrict__ dout, const float* __restrict__ x,
                const float* __restrict__ stats, int R, int W) {
    __shared__ float ps[8][33], pb[8][33];
    const int w = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f, b = 0.0f;
    if (w < W)
        for (long long r = blockIdx.y * 8 + threadIdx.y; r < R; r += (long long)gridDim.y * 8) {
            float d = dout[r * W + w];
            s = fmaf(d, (x[r * W + w] - stats[2 * r]) * stats[2 * r + 1], s);
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

// One (token, head) row of hd values, normalised in registers: lane owns columns lane + 32c.
#define QK_MAXC 8

extern "C" __global__ void __launch_bounds__(256)
qknorm_fwd(const float* __restrict__ pre, long long ld, int colQ, const float* __restrict__ qs,
           const float* __restrict__ ks, float* q, float* k, float* v, float* stats,
           int B, int N, int H, int hd, int centered, float eps) {
    const int lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);   // t * H + h
    if (row >= (long long)B * N * H) return;
    const long long t = row / H; const int h = row % H;
    const long long b = t / N, n = t % N;
    const long long hm = ((b * H + h) * N + n) * hd;                   // head-major offset
    const int D = H * hd;
    for (int which = 0; which < 2; which++) {
        const float* src = pre + t * ld + colQ + which * D + h * hd;
        const float* sc = which ? ks : qs;
        float* dst = which ? k : q;
        float xv[QK_MAXC];
        float s = 0.0f;
        #pragma unroll
        for (int c = 0; c < QK_MAXC; c++) { int d = lane + 32 * c; xv[c] = d < hd ? src[d] : 0.0f; s += xv[c]; }
        float mean = centered ? warp_sum(s) / hd : 0.0f;
        float ss = 0.0f;
        #pragma unroll
        for (int c = 0; c < QK_MAXC; c++) { int d = lane + 32 * c; float e = d < hd ? xv[c] - mean : 0.0f; ss = fmaf(e, e, ss); }
        float rstd = rsqrtf(warp_sum(ss) / hd + eps);
        #pragma unroll
        for (int c = 0; c < QK_MAXC; c++) { int d = lane + 32 * c; if (d < hd) dst[hm + d] = (xv[c] - mean) * rstd * sc[d]; }
        if (lane == 0) {
            long long si = ((long long)which * B * H * N + (b * H + h) * N + n) * 2;
            stats[si] = mean; stats[si + 1] = rstd;
        }
    }
    const float* vs = pre + t * ld + colQ + 2 * D + h * hd;
    for (int d = lane; d < hd; d += 32) v[hm + d] = vs[d];
}

// Writes (not accumulates) dpre's q, k, v columns from dq, dk (w.r.t. normalised values) and dv;
// accumulates dqScale, dkScale (hd) through a per-block shared sum then one atomicAdd each.
extern "C" __global__ void __launch_bounds__(256)
qknorm_bwd(float* dpre, long long ld, int colQ, const float* __restrict__ pre,
           const float* __restrict__ dq, const float* __restrict__ dk, const float* __restrict__ dv,
           const float* __restrict__ qs, const float* __restrict__ ks, const float* __restrict__ stats,
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
            const float* src = pre + t * ld + colQ + which * D + h * hd;
            float* dst = dpre + t * ld + colQ + which * D + h * hd;
            const float* sc = which ? ks : qs;
            const float* dn = (which ? dk : dq) + hm;
            long long si = ((long long)which * B * H * N + (b * H + h) * N + n) * 2;
            const float mean = stats[si], rstd = stats[si + 1];
            float xh[QK_MAXC], g[QK_MAXC];
            float sg = 0.0f, sgx = 0.0f;
            #pragma unroll
            for (int c = 0; c < QK_MAXC; c++) {
                int d = lane + 32 * c;
                xh[c] = d < hd ? (src[d] - mean) * rstd : 0.0f;
                float dd = d < hd ? dn[d] : 0.0f;
                g[c] = d < hd ? dd * sc[d] : 0.0f;
                sg += g[c]; sgx = fmaf(g[c], xh[c], sgx);
                if (d < hd) atomicAdd(&part[which][d], dd * xh[c]);
            }
            float mg = centered ? warp_sum(sg) / hd : 0.0f;
            float mgx = warp_sum(sgx) / hd;
            #pragma unroll
            for (int c = 0; c < QK_MAXC; c++) {
                int d = lane + 32 * c;
                if (d < hd) dst[d] = rstd * (g[c] - mg - xh[c] * mgx);
            }
        }
        float* dvd = dpre + t * ld + colQ + 2 * D + h * hd;
        for (int d = lane; d < hd; d += 32) dvd[d] = dv[hm + d];
    }
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        atomicAdd(dqs + d, part[0][d]);
        atomicAdd(dks + d, part[1][d]);
    }
}
