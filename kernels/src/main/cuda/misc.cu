// Elementwise and reduction kernels: add, scale, GELU forward/backward, row broadcast and
// column sums, head-major <-> token-major copies, patch im2col and position-gradient (each also
// with bf16 columns / bf16 dout: im2col_bf16, pos_grad_bf16), sum of
// squares, losses, AdamW (per range, and multi-tensor over a chunk table writing the bf16
// compute copy in the same pass), fp32 <-> bf16 conversion and rounding fp32 to bf16 values in place
// (the bf16 reference's rounding points), bf16 zero fill, uniform random fill (benchmark data), the
// stand-alone GEMM epilogue (cuBLASLt path). Unless said otherwise: 1D grid-stride loops,
// block 256, grid min(ceil(n/256), 65535); long long sizes so 22B-width tensors index safely.
// Storage types: the model's element-wise kernels (add, scale, GELU, broadcast, column sums,
// heads reshuffles, sum of squares, the loss, the in-projection's GELU columns) are templates on
// the storage type T of their activations, one extern "C" entry each: the float name, and
// ..._bf16 for __nv_bfloat16 (elem.cuh: exact widening, fp32 math, one round-to-nearest-even per
// stored element). Statistics, parameter gradients, targets and the loss stay fp32 (double).
// 16-byte vectors (elem.cuh ldn/stn: 8 bf16 or 4 floats per load/store) in add, scale, GELU
// forward/backward and broadcast_rows when every pointer is 16-byte aligned (and, for
// broadcast_rows, the row width a multiple of the vector); the elements past the last whole
// vector, or everything when a pointer is misaligned, go one at a time.
#include "common.cuh"
#include "bf16.cuh"
#include "elem.cuh"

#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// f(i, V) for each whole 16-byte vector starting at element i when vec, then f(i, 1) for every
// element after them (all of them when !vec); grid-stride over both.
template <typename T, typename F> __device__ __forceinline__ void ew_loop(long long n, bool vec, F f) {
    constexpr int V = VEC<T>;
    const long long whole = vec ? n / V : 0;
    GRID_STRIDE(c, whole) f(c * V, V);
    GRID_STRIDE(i, n - whole * V) f(whole * V + i, 1);
}

template <typename T> __device__ __forceinline__ void add_t(T* dst, const T* __restrict__ src, long long n) {
    ew_loop<T>(n, aligned16(dst, src), [&](long long i, int m) {
        float a[VEC<T>], b[VEC<T>];
        ldn(dst + i, a, m); ldn(src + i, b, m);
        for (int j = 0; j < m; j++) a[j] += b[j];
        stn(dst + i, a, m);
    });
}
extern "C" __global__ void add_f32(float* dst, const float* __restrict__ src, long long n) { add_t(dst, src, n); }
extern "C" __global__ void add_bf16(__nv_bfloat16* dst, const __nv_bfloat16* __restrict__ src, long long n) { add_t(dst, src, n); }

template <typename T> __device__ __forceinline__ void scale_t(T* t, float s, long long n) {
    ew_loop<T>(n, aligned16(t, t), [&](long long i, int m) {
        float a[VEC<T>];
        ldn(t + i, a, m);
        for (int j = 0; j < m; j++) a[j] *= s;
        stn(t + i, a, m);
    });
}
extern "C" __global__ void scale_f32(float* t, float s, long long n) { scale_t(t, s, n); }
extern "C" __global__ void scale_bf16(__nv_bfloat16* t, float s, long long n) { scale_t(t, s, n); }

template <typename T> __device__ __forceinline__ void gelu_fwd_t(T* out, const T* __restrict__ in, long long n, int kind) {
    ew_loop<T>(n, aligned16(out, in), [&](long long i, int m) {
        float a[VEC<T>];
        ldn(in + i, a, m);
        for (int j = 0; j < m; j++) a[j] = gelu_f(a[j], kind);
        stn(out + i, a, m);
    });
}
extern "C" __global__ void gelu_fwd(float* out, const float* __restrict__ in, long long n, int kind) { gelu_fwd_t(out, in, n, kind); }
extern "C" __global__ void gelu_fwd_bf16(__nv_bfloat16* out, const __nv_bfloat16* __restrict__ in, long long n, int kind) {
    gelu_fwd_t(out, in, n, kind);
}

// din += dout * gelu'(in)
template <typename T>
__device__ __forceinline__ void gelu_bwd_t(T* din, const T* __restrict__ dout, const T* __restrict__ in, long long n, int kind) {
    ew_loop<T>(n, aligned16(din, dout) && aligned16(in, in), [&](long long i, int m) {
        float a[VEC<T>], d[VEC<T>], x[VEC<T>];
        ldn(din + i, a, m); ldn(dout + i, d, m); ldn(in + i, x, m);
        for (int j = 0; j < m; j++) a[j] += d[j] * gelu_grad_f(x[j], kind);
        stn(din + i, a, m);
    });
}
extern "C" __global__ void gelu_bwd(float* din, const float* __restrict__ dout, const float* __restrict__ in,
                                    long long n, int kind) { gelu_bwd_t(din, dout, in, n, kind); }
extern "C" __global__ void gelu_bwd_bf16(__nv_bfloat16* din, const __nv_bfloat16* __restrict__ dout,
                                         const __nv_bfloat16* __restrict__ in, long long n, int kind) {
    gelu_bwd_t(din, dout, in, n, kind);
}

// The in-projection's MLP columns, bf16 (the fp32 path fuses this into gemm_epilogue or the
// GEMM): gout[t * ldg + j] = GELU(pre[t * ld + j] + b[j]) for j < Mcols.
extern "C" __global__ void gelu_cols_bf16(__nv_bfloat16* gout, long long ldg, const __nv_bfloat16* __restrict__ pre,
                                          long long ldp, const __nv_bfloat16* __restrict__ b, long long T, int Mcols,
                                          int kind) {
    GRID_STRIDE(i, T * Mcols) {
        long long t = i / Mcols; int j = i % Mcols;
        st(gout + t * ldg + j, gelu_f(ld(pre + t * ldp + j) + ld(b + j), kind));
    }
}

// The column sums of a (32, 8) block's per-thread partials (one column per threadIdx.x),
// combined in shared memory; valid in the threads of threadIdx.y == 0. Once per kernel.
__device__ __forceinline__ float col_partials(float s) {
    __shared__ float ps[8][33];
    ps[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0)
        for (int i = 1; i < 8; i++) s += ps[i][threadIdx.x];
    return s;
}

// dpre[t, j] = dag[t, col + j] * gelu'(pre[t, j] + b[j]) for j < Mcols: the in-projection's
// MLP part; WRITES dpre (scratch). ld is the row stride of pre and dpre. dbias (Mcols, fp32)
// += the column sums of the fp32 products before dpre's rounding (as the CPU reference sums them).
// Grid (ceil(Mcols/32), row chunks), block (32, 8), as col_sum.
template <typename T>
__device__ __forceinline__ void gelu_bwd_cols_t(T* dpre, long long ldp, const T* __restrict__ pre, const T* __restrict__ b,
                                                const T* __restrict__ dag, long long ldag, int col, long long rows, int Mcols,
                                                int kind, float* dbias) {
    const int j = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (j < Mcols) {
        const float bj = ld(b + j);
        for (long long t = blockIdx.y * 8 + threadIdx.y; t < rows; t += (long long)gridDim.y * 8) {
            float g = ld(dag + t * ldag + col + j) * gelu_grad_f(ld(pre + t * ldp + j) + bj, kind);
            st(dpre + t * ldp + j, g);
            s += g;
        }
    }
    s = col_partials(s);
    if (threadIdx.y == 0 && j < Mcols) atomicAdd(dbias + j, s);
}
extern "C" __global__ void gelu_bwd_cols(float* dpre, long long ld, const float* __restrict__ pre,
                                         const float* __restrict__ b, const float* __restrict__ dag,
                                         long long ldag, int col, long long T, int Mcols, int kind, float* dbias) {
    gelu_bwd_cols_t(dpre, ld, pre, b, dag, ldag, col, T, Mcols, kind, dbias);
}
extern "C" __global__ void gelu_bwd_cols_bf16(__nv_bfloat16* dpre, long long ld, const __nv_bfloat16* __restrict__ pre,
                                              const __nv_bfloat16* __restrict__ b, const __nv_bfloat16* __restrict__ dag,
                                              long long ldag, int col, long long T, int Mcols, int kind, float* dbias) {
    gelu_bwd_cols_t(dpre, ld, pre, b, dag, ldag, col, T, Mcols, kind, dbias);
}

// dst (R, W) = src (W) in every row; vectors when W is a whole number of them (rows stay aligned).
template <typename T> __device__ __forceinline__ void broadcast_rows_t(T* dst, const T* __restrict__ src, long long R, int W) {
    ew_loop<T>(R * W, aligned16(dst, src) && W % VEC<T> == 0, [&](long long i, int m) {
        float a[VEC<T>];
        ldn(src + i % W, a, m);
        stn(dst + i, a, m);
    });
}
extern "C" __global__ void broadcast_rows(float* dst, const float* __restrict__ src, long long R, int W) {
    broadcast_rows_t(dst, src, R, W);
}
extern "C" __global__ void broadcast_rows_bf16(__nv_bfloat16* dst, const __nv_bfloat16* __restrict__ src, long long R, int W) {
    broadcast_rows_t(dst, src, R, W);
}

// dst (W) += sum over rows of src (R rows, stride ld). Grid (ceil(W/32), row chunks), block (32, 8).
// A bf16 dst cannot take atomic partial sums (each would round): col_sum_bf16_bf16 runs with one
// row chunk (grid.y = 1) and rounds dst + the whole column sum once.
template <typename TD, typename TS> __device__ __forceinline__ void col_sum_t(TD* dst, const TS* __restrict__ src, long long R,
                                                                             int W, long long ld) {
    const int w = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (w < W)
        for (long long r = blockIdx.y * 8 + threadIdx.y; r < R; r += (long long)gridDim.y * 8) s += ::ld(src + r * ld + w);
    s = col_partials(s);
    if (threadIdx.y != 0 || w >= W) return;
    if constexpr (sizeof(TD) == sizeof(float)) atomicAdd(dst + w, s);
    else st(dst + w, ::ld(dst + w) + s);
}
extern "C" __global__ void col_sum(float* dst, const float* __restrict__ src, long long R, int W, long long ld) {
    col_sum_t(dst, src, R, W, ld);
}
extern "C" __global__ void col_sum_bf16(float* dst, const __nv_bfloat16* __restrict__ src, long long R, int W, long long ld) {
    col_sum_t(dst, src, R, W, ld);
}
extern "C" __global__ void col_sum_bf16_bf16(__nv_bfloat16* dst, const __nv_bfloat16* __restrict__ src, long long R, int W,
                                             long long ld) {
    col_sum_t(dst, src, R, W, ld);
}

// dst (B, H, N, hd) = src[(b*N + n)*ld + col + h*hd + d]   (toHeads)
template <typename T> __device__ __forceinline__ void to_heads_t(T* dst, const T* __restrict__ src, long long ld, int col,
                                                                 int B, int N, int H, int hd) {
    GRID_STRIDE(i, (long long)B * H * N * hd) {
        int d = i % hd; long long r = i / hd; int n = r % N; r /= N; int h = r % H; long long b = r / H;
        dst[i] = src[(b * N + n) * ld + col + (long long)h * hd + d];   // a copy: no rounding
    }
}
extern "C" __global__ void to_heads(float* dst, const float* __restrict__ src, long long ld, int col,
                                    int B, int N, int H, int hd) { to_heads_t(dst, src, ld, col, B, N, H, hd); }
extern "C" __global__ void to_heads_bf16(__nv_bfloat16* dst, const __nv_bfloat16* __restrict__ src, long long ld, int col,
                                         int B, int N, int H, int hd) { to_heads_t(dst, src, ld, col, B, N, H, hd); }

// dst[(b*N + n)*ld + col + h*hd + d] += src (B, H, N, hd)   (fromHeads)
template <typename T> __device__ __forceinline__ void from_heads_t(T* dst, long long ld, int col, const T* __restrict__ src,
                                                                   int B, int N, int H, int hd) {
    GRID_STRIDE(i, (long long)B * H * N * hd) {
        int d = i % hd; long long r = i / hd; int n = r % N; r /= N; int h = r % H; long long b = r / H;
        T* o = dst + (b * N + n) * ld + col + (long long)h * hd + d;
        st(o, ::ld(o) + ::ld(src + i));
    }
}
extern "C" __global__ void from_heads(float* dst, long long ld, int col, const float* __restrict__ src,
                                      int B, int N, int H, int hd) { from_heads_t(dst, ld, col, src, B, N, H, hd); }
extern "C" __global__ void from_heads_bf16(__nv_bfloat16* dst, long long ld, int col, const __nv_bfloat16* __restrict__ src,
                                           int B, int N, int H, int hd) { from_heads_t(dst, ld, col, src, B, N, H, hd); }

// cols (B*N, C*P*P) from images (B, C, S, S): row = patch b, n (row-major over the grid),
// column = c*P*P + i*P + j, matching the conv weight (D, C, P, P) flattened.
// Patch im2col: cols (B*G*G, C*P*P) from the images (B, C, S, S), G = S / P; cols in T, images
// fp32 (the bf16 instantiation rounds each element once: the patch embedding's bf16 GEMM operand).
template <class T>
__device__ __forceinline__ void im2col_t(T* cols, const float* __restrict__ img, int B, int C, int S, int P) {
    const int G = S / P, K = C * P * P;
    GRID_STRIDE(e, (long long)B * G * G * K) {
        int kk = e % K; long long row = e / K;
        int n = row % (G * G); long long b = row / (G * G);
        int c = kk / (P * P), i = (kk / P) % P, j = kk % P;
        int y = (n / G) * P + i, x = (n % G) * P + j;
        st(cols + e, img[((b * C + c) * S + y) * S + x]);
    }
}

extern "C" __global__ void im2col(float* cols, const float* __restrict__ img, int B, int C, int S, int P) {
    im2col_t(cols, img, B, C, S, P);
}

extern "C" __global__ void im2col_bf16(__nv_bfloat16* cols, const float* __restrict__ img, int B, int C, int S, int P) {
    im2col_t(cols, img, B, C, S, P);
}

// dpos (N, D) += sum over the batch of dout (B, N, D): dpos fp32 (a parameter gradient), dout in T,
// summed in fp32.
template <class T>
__device__ __forceinline__ void pos_grad_t(float* dpos, const T* __restrict__ dout, int B, long long ND) {
    GRID_STRIDE(i, ND) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += ld(dout + b * ND + i);
        dpos[i] += s;
    }
}

extern "C" __global__ void pos_grad(float* dpos, const float* __restrict__ dout, int B, long long ND) {
    pos_grad_t(dpos, dout, B, ND);
}

extern "C" __global__ void pos_grad_bf16(float* dpos, const __nv_bfloat16* __restrict__ dout, int B, long long ND) {
    pos_grad_t(dpos, dout, B, ND);
}

// *out += sum of t[i]^2, partial sums in float per thread, combined in double.
template <typename T> __device__ __forceinline__ void sum_squares_t(double* out, const T* __restrict__ t, long long n) {
    double s = 0.0;
    GRID_STRIDE(i, n) { float v = ld(t + i); s += (double)v * v; }
    __shared__ double part[256];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (threadIdx.x < o) part[threadIdx.x] += part[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(out, part[0]);
}
extern "C" __global__ void __launch_bounds__(256) sum_squares(double* out, const float* __restrict__ t, long long n) {
    sum_squares_t(out, t, n);
}
extern "C" __global__ void __launch_bounds__(256) sum_squares_bf16(double* out, const __nv_bfloat16* __restrict__ t, long long n) {
    sum_squares_t(out, t, n);
}

// One block (256) per batch row of logits (B, C). kind 0: sigmoid cross-entropy summed over
// classes; 1: softmax cross-entropy -sum t log softmax. Writes dlogits = d(mean loss)/dlogits,
// adds the row's loss / B to *loss (double). logits and dlogits of storage type T, targets fp32.
template <typename T>
__device__ __forceinline__ void loss_t(double* loss, T* dlogits, const T* __restrict__ logits, const float* __restrict__ targets,
                                       int B, int C, int kind) {
    const long long r = blockIdx.x;
    const T* x = logits + r * C;
    const float* t = targets + r * C;
    T* d = dlogits + r * C;
    const float invB = 1.0f / B;
    float l = 0.0f;
    if (kind == 0) {
        for (int i = threadIdx.x; i < C; i += blockDim.x) {
            float xi = ld(x + i), ti = t[i];
            l += fmaxf(xi, 0.0f) - xi * ti + log1pf(expf(-fabsf(xi)));
            st(d + i, (1.0f / (1.0f + expf(-xi)) - ti) * invB);
        }
        l = block_sum(l);
    } else {
        __shared__ float smax;
        float m = -INFINITY;
        for (int i = threadIdx.x; i < C; i += blockDim.x) m = fmaxf(m, ld(x + i));
        m = warp_max(m);
        __shared__ float wm[32];
        if ((threadIdx.x & 31) == 0) wm[threadIdx.x >> 5] = m;
        __syncthreads();
        if (threadIdx.x == 0) {
            float mm = -INFINITY;
            for (int i = 0; i < (int)(blockDim.x >> 5); i++) mm = fmaxf(mm, wm[i]);
            smax = mm;
        }
        __syncthreads();
        m = smax;
        float se = 0.0f, sumt = 0.0f;
        for (int i = threadIdx.x; i < C; i += blockDim.x) { se += expf(ld(x + i) - m); sumt += t[i]; }
        se = block_sum(se); sumt = block_sum(sumt);
        float lse = m + logf(se);
        for (int i = threadIdx.x; i < C; i += blockDim.x) {
            float xi = ld(x + i);
            l += t[i] * (lse - xi);
            st(d + i, (expf(xi - lse) * sumt - t[i]) * invB);
        }
        l = block_sum(l);
    }
    if (threadIdx.x == 0) atomicAdd(loss, (double)l * invB);
}
extern "C" __global__ void __launch_bounds__(256)
loss_fwd_bwd(double* loss, float* dlogits, const float* __restrict__ logits, const float* __restrict__ targets,
             int B, int C, int kind) { loss_t(loss, dlogits, logits, targets, B, C, kind); }
extern "C" __global__ void __launch_bounds__(256)
loss_fwd_bwd_bf16(double* loss, __nv_bfloat16* dlogits, const __nv_bfloat16* __restrict__ logits,
                  const float* __restrict__ targets, int B, int C, int kind) { loss_t(loss, dlogits, logits, targets, B, C, kind); }

// AdamW (PyTorch semantics) of one element with gradient pre-scale; bc1 = 1 - b1^t, bc2 = 1 - b2^t.
// Returns the updated parameter; m and v are updated in place.
__device__ __forceinline__ float adamw_update(float p, float g, float& m, float& v, float lr, float b1, float b2,
                                              float eps, float wd, float gscale, float bc1, float bc2) {
    float gi = g * gscale;
    float mi = b1 * m + (1.0f - b1) * gi;
    float vi = b2 * v + (1.0f - b2) * gi * gi;
    m = mi; v = vi;
    return p - lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p);
}

extern "C" __global__ void adamw_f32(float* p, const float* __restrict__ g, float* m, float* v, long long n,
                                     float lr, float b1, float b2, float eps, float wd, float gscale,
                                     float bc1, float bc2) {
    GRID_STRIDE(i, n) {
        float mi = m[i], vi = v[i];
        p[i] = adamw_update(p[i], g[i], mi, vi, lr, b1, b2, eps, wd, gscale, bc1, bc2);
        m[i] = mi; v[i] = vi;
    }
}

// A training step's AdamW scalars computed on the device, so the step needs no host value and can
// be captured in a graph and replayed. One warp, thread 0 does the work. In: hp[0] = learning rate (written by the host
// before the step), *step = updates done, *sumsq = squared global gradient norm (sum_squares).
// Out: hp[1] = clip scale min(1, clip / norm) (clip <= 0: 1), hp[2], hp[3] = bias corrections of
// update *step + 1, hp[4] = 1 when the norm is finite (the update runs and *step advances), else 0.
extern "C" __global__ void adamw_scalars(float* hp, int* step, const double* sumsq, float clip, float b1, float b2) {
    if (threadIdx.x != 0) return;
    double norm = sqrt(*sumsq);
    bool finite = norm == norm && norm <= 1.7976931348623157e308;
    int t = *step + (finite ? 1 : 0);
    hp[1] = clip > 0.0f && norm > clip ? (float)(clip / norm) : 1.0f;
    hp[2] = (float)(1.0 - pow((double)b1, (double)t));
    hp[3] = (float)(1.0 - pow((double)b2, (double)t));
    hp[4] = finite ? 1.0f : 0.0f;
    *step = t;
}

// The multi-tensor AdamW's work list: a run of a flat buffer and its weight decay. The host splits
// each decay range at multiples of the chunk length (Kernels.ADAMW_CHUNK), so every chunk but a
// range's first starts on a 16-byte boundary of 16-byte aligned buffers.
struct __align__(16) AdamwChunk { long long offset; int size; float wd; };

// The compute copy's store of an updated master: bf16 bits (unsigned short), or a float32 holding
// the bf16 value (the bf16 reference's float32 storage); both round by bf16_bits_rne.
__device__ __forceinline__ unsigned short copy_value(unsigned short*, float x) { return bf16_bits_rne(x); }
__device__ __forceinline__ float copy_value(float*, float x) {
    unsigned int u = (unsigned int)bf16_bits_rne(x) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
// Four copy elements at once: 8 bytes of bf16 or 16 of float32.
__device__ __forceinline__ void store4_copy(unsigned short* c, float4 x) {
    uint2 w = make_uint2((unsigned int)copy_value(c, x.x) | ((unsigned int)copy_value(c, x.y) << 16),
                         (unsigned int)copy_value(c, x.z) | ((unsigned int)copy_value(c, x.w) << 16));
    *reinterpret_cast<uint2*>(c) = w;
}
__device__ __forceinline__ void store4_copy(float* c, float4 x) {
    *reinterpret_cast<float4*>(c) = make_float4(copy_value(c, x.x), copy_value(c, x.y), copy_value(c, x.z),
                                                copy_value(c, x.w));
}

// Element i of the multi-tensor update (scalar path).
template <typename C>
__device__ __forceinline__ void adamw_one(float* p, const float* __restrict__ g, float* m, float* v, C* copy,
                                          long long i, float lr, float b1, float b2, float eps, float wd,
                                          float gscale, float bc1, float bc2) {
    float mi = m[i], vi = v[i];
    float pi = adamw_update(p[i], g[i], mi, vi, lr, b1, b2, eps, wd, gscale, bc1, bc2);
    p[i] = pi; m[i] = mi; v[i] = vi;
    if (copy) copy[i] = copy_value(copy, pi);
}

// The whole flat parameter buffer in one launch: block b takes chunks b, b + gridDim.x, ... of
// the table; its threads update the chunk's elements (fp32 master p, moments m, v from gradient g)
// and, when copy is not null, write each updated master rounded to bf16 into copy. Where p, g, m,
// v (and copy) share their alignment, four elements per thread at a time (16-byte loads); a
// chunk's unaligned head and its tail one element each. Step scalars hp as adamw_scalars writes
// them; nothing runs when hp[4] == 0 (non-finite norm: masters, moments and copy stay).
template <typename C>
__device__ __forceinline__ void adamw_chunks(float* p, const float* __restrict__ g, float* m, float* v, C* copy,
                                             const AdamwChunk* __restrict__ chunks, int nchunks,
                                             const float* __restrict__ hp, float b1, float b2, float eps) {
    if (hp[4] == 0.0f) return;
    const float lr = hp[0], gscale = hp[1], bc1 = hp[2], bc2 = hp[3];
    for (int c = blockIdx.x; c < nchunks; c += gridDim.x) {
        const AdamwChunk ch = chunks[c];
        const long long o = ch.offset;
        const int n = ch.size;
        const float wd = ch.wd;
        // elements before p + o + head sits on a 16-byte boundary (p holds floats: 4-byte aligned)
        int head = min(n, (int)(((16u - ((unsigned int)(size_t)(p + o) & 15u)) & 15u) / 4u));
        const long long h = o + head;
        const bool vec = (((size_t)(g + h) | (size_t)(m + h) | (size_t)(v + h)) & 15u) == 0
                         && (!copy || ((size_t)(copy + h) & (4 * sizeof(C) - 1)) == 0);
        if (!vec) head = n;
        for (int i = threadIdx.x; i < head; i += blockDim.x)
            adamw_one(p, g, m, v, copy, o + i, lr, b1, b2, eps, wd, gscale, bc1, bc2);
        const int quads = (n - head) / 4;
        for (int q = threadIdx.x; q < quads; q += blockDim.x) {
            const long long i = h + 4LL * q;
            float4 p4 = *reinterpret_cast<const float4*>(p + i), g4 = *reinterpret_cast<const float4*>(g + i);
            float4 m4 = *reinterpret_cast<const float4*>(m + i), v4 = *reinterpret_cast<const float4*>(v + i);
            p4.x = adamw_update(p4.x, g4.x, m4.x, v4.x, lr, b1, b2, eps, wd, gscale, bc1, bc2);
            p4.y = adamw_update(p4.y, g4.y, m4.y, v4.y, lr, b1, b2, eps, wd, gscale, bc1, bc2);
            p4.z = adamw_update(p4.z, g4.z, m4.z, v4.z, lr, b1, b2, eps, wd, gscale, bc1, bc2);
            p4.w = adamw_update(p4.w, g4.w, m4.w, v4.w, lr, b1, b2, eps, wd, gscale, bc1, bc2);
            *reinterpret_cast<float4*>(p + i) = p4;
            *reinterpret_cast<float4*>(m + i) = m4;
            *reinterpret_cast<float4*>(v + i) = v4;
            if (copy) store4_copy(copy + i, p4);
        }
        for (int i = head + 4 * quads + threadIdx.x; i < n; i += blockDim.x)
            adamw_one(p, g, m, v, copy, o + i, lr, b1, b2, eps, wd, gscale, bc1, bc2);
    }
}

// adamw_chunks with a bf16 compute copy (or none: copy null). Block 256, grid min(nchunks, 65535).
extern "C" __global__ void __launch_bounds__(256)
adamw_multi(float* p, const float* __restrict__ g, float* m, float* v, unsigned short* copy,
            const AdamwChunk* __restrict__ chunks, int nchunks, const float* __restrict__ hp, float b1, float b2, float eps) {
    adamw_chunks(p, g, m, v, copy, chunks, nchunks, hp, b1, b2, eps);
}

// adamw_chunks with a float32 copy holding bf16 values (not null). Block 256, grid min(nchunks, 65535).
extern "C" __global__ void __launch_bounds__(256)
adamw_multi_f32copy(float* p, const float* __restrict__ g, float* m, float* v, float* copy,
                    const AdamwChunk* __restrict__ chunks, int nchunks, const float* __restrict__ hp, float b1, float b2,
                    float eps) {
    adamw_chunks(p, g, m, v, copy, chunks, nchunks, hp, b1, b2, eps);
}

// dst (bf16, round to nearest even, NaN stays NaN: bf16.cuh) = src (fp32).
extern "C" __global__ void f32_to_bf16(unsigned short* dst, const float* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) dst[i] = bf16_bits_rne(src[i]);
}

// dst (fp32) = src (bf16): exact, the bf16 bits are the float's top half.
extern "C" __global__ void bf16_to_f32(float* dst, const unsigned short* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) {
        unsigned int u = (unsigned int)src[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        dst[i] = f;
    }
}

// t[i] = the bf16 value nearest t[i] (bf16_bits_rne), kept as fp32: f32_to_bf16 then bf16_to_f32
// in one pass, in place.
extern "C" __global__ void round_bf16_f32(float* t, long long n) {
    GRID_STRIDE(i, n) {
        unsigned int u = (unsigned int)bf16_bits_rne(t[i]) << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        t[i] = f;
    }
}

// t[i] = 0 for n 16-bit elements (a bf16 view may start or end mid-word, where a 32-bit memset
// would reach its neighbours).
extern "C" __global__ void zero_u16(unsigned short* t, long long n) {
    GRID_STRIDE(i, n) t[i] = 0;
}

// t[i] = lo + (hi - lo) * u(seed, i), u uniform in [0, 1) from a counter-based hash (splitmix64
// of seed + i): benchmark data made on the GPU, the same for any grid, no host upload.
extern "C" __global__ void fill_uniform(float* t, long long n, unsigned long long seed, float lo, float hi) {
    GRID_STRIDE(i, n) {
        unsigned long long z = seed + 0x9e3779b97f4a7c15ull * (unsigned long long)(i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        t[i] = lo + (hi - lo) * (float)(z >> 40) * (1.0f / 16777216.0f);
    }
}

// The GEMM epilogue on its own, for the cuBLASLt GEMM path (same order as gemm_f32's):
// v = C[m, n] (+ bias[n]) (+ res[(m % resRows)*ldr + n]); C = v; for n < geluCols
// gout[m*ldg + n] = GELU(v + gbias[n]). One thread per element of the M x N tile of C.
// res may alias C (in-place residual), so it is not __restrict__: see gemm.cu.
extern "C" __global__ void gemm_epilogue(float* C, long long ldc, int M, int N, const float* __restrict__ bias,
                                         const float* res, long long ldr, int resRows,
                                         float* gout, long long ldg, int geluCols, const float* __restrict__ gbias,
                                         int geluKind) {
    GRID_STRIDE(i, (long long)M * N) {
        long long m = i / N; int n = i % N;
        float* c = C + m * ldc + n;
        float v = *c;
        if (bias) v += bias[n];
        if (res) v += res[(m % resRows) * ldr + n];
        *c = v;
        if (n < geluCols) gout[m * ldg + n] = gelu_f(gbias ? v + gbias[n] : v, geluKind);
    }
}
