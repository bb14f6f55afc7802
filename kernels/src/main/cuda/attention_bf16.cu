// Flash attention on tensor cores (FlashAttention-2's structure): softmax(q k^T * scale) v with
// scale = 1/sqrt(hd), no mask, bf16 q/k/v/dout, fp32 softmax state (running max, sum, lse, delta)
// and fp32 accumulation in every product (mma.sync m16n8k16 bf16 -> f32); the Nq x Nk
// probabilities never leave registers. hd in {64, 128, 256} (the host refuses others), any Nq, Nk.
// Layouts: q (B, H, Nq, hd), k and v (B, H, Nk, hd) head-major bf16; out and dout token-major
// bf16 (B*Nq, ldo) with head h at columns [h*hd, (h+1)*hd); lse and delta (B, H, Nq) fp32;
// dq (B, H, Nq, hd), dk and dv (B, H, Nk, hd) head-major bf16, accumulated.
// Precisions, and why: out is bf16 because its one reader is the out-projection GEMM's bf16
// A operand; dq/dk/dv are bf16 like every activation gradient of the recipe (their reader, the
// QK-norm backward, widens them; its statistics are fp32), summed in fp32 registers over the
// whole sequence and added to what the tensor holds once at the end: read, add in fp32, round
// once (Backend.attentionBackward accumulates; each element has one writing thread, no atomics).
//   attn_fwd_bf16:       out = softmax(q k^T scale) v,  lse = log sum_j exp(q_i . k_j scale)
//   attn_bwd_dq_bf16:    dq_i += scale sum_j P_ij (dout_i . v_j - delta_i) k_j
//   attn_bwd_dkdv_bf16:  dk_j += scale sum_i dS_ij q_i,  dv_j += sum_i P_ij dout_i  (dS as above)
// delta_i = sum_d dout_id out_id comes first from attention.cu's attn_bwd_delta_bf16 (one kernel
// for both bf16 paths).
// No atomics: the backward is two passes, dq walking keys per query block, dk/dv walking queries
// per key block (S and dP are computed in both, 2 of the backward's 7 N^2 hd products again).
// P and dS are rounded to bf16 as the second product's A operand (FlashAttention-2 does the same).
// Launch (Kernels.java mirrors the constants below; every grid is one flat x, B*H heads outermost,
// so a head's blocks are adjacent and share its K/V in L2; grid.y would stop at 65,535):
//   fwd, dq: grid.x = B*H * ceil(Nq/ATT_BQ), block ATT_THREADS = 4 warps, each 16 query rows;
//   dkdv:    grid.x = B*H * ceil(Nk/ATT_BKV) * (hd/ATT_DC(hd)), block ATT_THREADS, each warp 16 keys,
//            the block's dk/dv columns [split*ATT_DC, +ATT_DC) (hd 256 is split in two: 256 fp32
//            accumulators a thread would not fit the register file).
// Dynamic shared memory (bf16 tiles [rows][hd], 16-byte chunk index XOR (row & 7) so the 8 rows
// one ldmatrix reads fall in 8 bank groups), ATT_SMEM_*(hd) bytes:
//   fwd:  q [ATT_BQ] + 2 stages x (k, v) [ATT_FWD_BK(hd)]   (cp.async double buffer over keys)
//   dq:   q, dout [ATT_BQ] + 2 stages x (k, v) [ATT_BT(hd)]
//   dkdv: k, v [ATT_BKV] + 2 stages x (q, dout) [ATT_BT(hd)] + 2 stages x (lse, delta) [ATT_BT(hd)] fp32
// Requirements (checked by Kernels on the host): q, k, v, out, dout, dq, dk, dv 16-byte aligned,
// ldo a multiple of 8 (rows are copied with 16-byte cp.async; gradients are updated in pairs).
#include "common.cuh"
#include "mma.cuh"
#include "bf16.cuh"
#include "attention_common.cuh"
#include <cuda_bf16.h>
#include <cuda_pipeline.h>

#define ATT_WARPS 4
#define ATT_THREADS (32 * ATT_WARPS)
#define ATT_BQ 64            // query rows per fwd / dq block (16 per warp)
#define ATT_BKV 64           // key rows per dkdv block (16 per warp)
#define ATT_FWD_KEYS 64      // keys per fwd tile at hd <= 128
#define ATT_FWD_KEYS_256 32  //   and at hd 256 (shared memory)
#define ATT_BWD_TILE 32      // keys per dq tile, queries per dkdv tile at hd 64
#define ATT_BWD_TILE_WIDE 16 //   and at hd >= 128 (the fp32 dq/dk/dv accumulators leave no registers for more)
#define ATT_DKDV_COLS 128    // dk/dv columns per dkdv block at most (hd 256: two blocks per key block)
#define ATT_FWD_BK(hd) ((hd) <= 128 ? ATT_FWD_KEYS : ATT_FWD_KEYS_256)
#define ATT_BT(hd) ((hd) <= 64 ? ATT_BWD_TILE : ATT_BWD_TILE_WIDE)
#define ATT_DC(hd) ((hd) < ATT_DKDV_COLS ? (hd) : ATT_DKDV_COLS)
#define ATT_SMEM_FWD(hd) ((ATT_BQ + 4 * ATT_FWD_BK(hd)) * (hd) * 2)
#define ATT_SMEM_DQ(hd) ((2 * ATT_BQ + 4 * ATT_BT(hd)) * (hd) * 2)
#define ATT_SMEM_DKDV(hd) ((2 * ATT_BKV + 4 * ATT_BT(hd)) * (hd) * 2 + 4 * ATT_BT(hd) * 4)


// Element (r, c) of a swizzled [rows][HD] tile.
template <int HD>
__device__ __forceinline__ int att_sw(int r, int c) {
    return r * HD + (((c >> 3) ^ (r & 7)) << 3) + (c & 7);
}

// Rows [r0, r0 + R) of a (ext x HD) bf16 matrix with row stride ld into a swizzled tile; rows past
// ext are zero (a zero K/V/q/dout row contributes nothing once its probability is masked to 0).
template <int HD, int R>
__device__ __forceinline__ void att_load(att_bf16* s, const att_bf16* g, long long ld, int r0, int ext, int tid) {
    constexpr int CH = HD / 8;
    #pragma unroll
    for (int v = tid; v < R * CH; v += ATT_THREADS) {
        const int r = v / CH, c = (v % CH) * 8;
        att_bf16* dst = s + att_sw<HD>(r, c);
        if (r0 + r < ext) __pipeline_memcpy_async(dst, g + (long long)(r0 + r) * ld + c, 16);
        else *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
}


// ldmatrix lane roles: lane 8j + i addresses row i of matrix j.
// A fragment (16 x 16, k contiguous in the tile): rows r0.., k kk..
template <int HD>
__device__ __forceinline__ void att_frag_a(unsigned a[4], const att_bf16* s, int r0, int kk, int lane) {
    const int j8 = lane >> 3, r8 = lane & 7;
    ldmatrix_x4(a, s + att_sw<HD>(r0 + (j8 & 1) * 8 + r8, kk + (j8 >> 1) * 8));
}
// B fragments of two n8 tiles, B(k, n) = tile[n0 + n][kk + k] (k contiguous): b0 for n0.., b1 for n0+8..
template <int HD>
__device__ __forceinline__ void att_frag_b(unsigned b0[2], unsigned b1[2], const att_bf16* s, int n0, int kk, int lane) {
    const int j8 = lane >> 3, r8 = lane & 7;
    unsigned r[4];
    ldmatrix_x4(r, s + att_sw<HD>(n0 + (j8 >> 1) * 8 + r8, kk + (j8 & 1) * 8));
    b0[0] = r[0]; b0[1] = r[1]; b1[0] = r[2]; b1[1] = r[3];
}
// B fragments of two n8 tiles, B(k, n) = tile[kk + k][n0 + n] (n contiguous: v, k, q, dout as the
// right operand of P v, dS k, P^T dout, dS^T q), read transposed.
template <int HD>
__device__ __forceinline__ void att_frag_bt(unsigned b0[2], unsigned b1[2], const att_bf16* s, int n0, int kk, int lane) {
    const int j8 = lane >> 3, r8 = lane & 7;
    unsigned r[4];
    ldmatrix_x4_trans(r, s + att_sw<HD>(kk + (j8 & 1) * 8 + r8, n0 + (j8 >> 1) * 8));
    b0[0] = r[0]; b0[1] = r[1]; b1[0] = r[2]; b1[1] = r[3];
}
// acc[NB][4] (16 x 8*NB) += tile A rows [ar, ar+16) x tile B rows [0, 8*NB), over k = [0, HD).
template <int HD, int NB>
__device__ __forceinline__ void att_qk(float (&acc)[NB][4], const att_bf16* sa, int ar, const att_bf16* sb, int lane) {
    #pragma unroll
    for (int kk = 0; kk < HD; kk += 16) {
        unsigned a[4];
        att_frag_a<HD>(a, sa, ar, kk, lane);
        #pragma unroll
        for (int p = 0; p < NB / 2; p++) {
            unsigned b0[2], b1[2];
            att_frag_b<HD>(b0, b1, sb, p * 16, kk, lane);
            mma_bf16_16816(acc[2 * p], a, b0, acc[2 * p]);
            mma_bf16_16816(acc[2 * p + 1], a, b1, acc[2 * p + 1]);
        }
    }
}
// acc[ND][4] (16 x 8*ND, columns c0..) += P (16 x 8*NB, fp32 accumulator layout, rounded to bf16)
// x tile[0, 8*NB)[c0, c0 + 8*ND): the accumulator's (g, 2t) pairs are an A fragment's registers.
template <int HD, int NB, int ND>
__device__ __forceinline__ void att_pv(float (&acc)[ND][4], const float (&p)[NB][4], const att_bf16* sb, int c0, int lane) {
    #pragma unroll
    for (int kc = 0; kc < NB / 2; kc++) {
        unsigned a[4] = {att_pack(p[2 * kc][0], p[2 * kc][1]), att_pack(p[2 * kc][2], p[2 * kc][3]),
                         att_pack(p[2 * kc + 1][0], p[2 * kc + 1][1]), att_pack(p[2 * kc + 1][2], p[2 * kc + 1][3])};
        #pragma unroll
        for (int dp = 0; dp < ND / 2; dp++) {
            unsigned b0[2], b1[2];
            att_frag_bt<HD>(b0, b1, sb, c0 + dp * 16, kc * 16, lane);
            mma_bf16_16816(acc[2 * dp], a, b0, acc[2 * dp]);
            mma_bf16_16816(acc[2 * dp + 1], a, b1, acc[2 * dp + 1]);
        }
    }
}
template <int N, int M>
__device__ __forceinline__ void att_zero(float (&a)[N][M]) {
    #pragma unroll
    for (int i = 0; i < N; i++)
        #pragma unroll
        for (int j = 0; j < M; j++) a[i][j] = 0.0f;
}

template <int HD>
__device__ __forceinline__ void attn_fwd_t(att_bf16* out, long long ldo, float* lse, const att_bf16* q, const att_bf16* k,
                                           const att_bf16* v, int H, int Nq, int Nk, float scale) {
    constexpr int KEYS = ATT_FWD_BK(HD), NB = KEYS / 8, ND = HD / 8;
    DYNAMIC_SHARED(att_bf16, att_smem);
    att_bf16* Qs = att_smem;
    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int tiles = (Nq + ATT_BQ - 1) / ATT_BQ;
    const int bh = blockIdx.x / tiles, q0 = (blockIdx.x % tiles) * ATT_BQ;
    const att_bf16* kb = k + (long long)bh * Nk * HD;
    const att_bf16* vb = v + (long long)bh * Nk * HD;
    const int kTiles = (Nk + KEYS - 1) / KEYS;
    auto load = [&](int kt) {
        if (kt < kTiles) {
            att_bf16* s = Qs + ATT_BQ * HD + (kt & 1) * 2 * KEYS * HD;
            att_load<HD, KEYS>(s, kb, HD, kt * KEYS, Nk, tid);
            att_load<HD, KEYS>(s + KEYS * HD, vb, HD, kt * KEYS, Nk, tid);
        }
        __pipeline_commit();   // an empty group past the end keeps the wait count uniform
    };
    att_load<HD, ATT_BQ>(Qs, q + (long long)bh * Nq * HD, HD, q0, Nq, tid);
    load(0);   // one group: q and the first k/v tile
    const float sl2 = scale * ATT_LOG2E;   // scores in the log2 domain: exp2f
    float o[ND][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    att_zero(o);
    for (int kt = 0; kt < kTiles; kt++) {
        load(kt + 1);                 // the other stage: its last readers passed the barrier below
        __pipeline_wait_prior(1);     // tile kt (and q) landed, this thread's copies
        __syncthreads();              // everyone's
        const att_bf16* Ks = Qs + ATT_BQ * HD + (kt & 1) * 2 * KEYS * HD;
        const att_bf16* Vs = Ks + KEYS * HD;
        float s[NB][4];
        att_zero(s);
        att_qk<HD, NB>(s, Qs, w * 16, Ks, lane);
        float mx[2] = {-INFINITY, -INFINITY};
        #pragma unroll
        for (int j = 0; j < NB; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = kt * KEYS + j * 8 + 2 * t4 + (e & 1);
                s[j][e] = key < Nk ? s[j][e] * sl2 : -INFINITY;
                mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
            }
        float corr[2];
        #pragma unroll
        for (int h = 0; h < 2; h++) {
            const float mNew = fmaxf(m[h], att_quad_max(mx[h]));   // finite: every tile has a key
            corr[h] = exp2f(m[h] - mNew);                            // 0 on the first tile
            m[h] = mNew;
            l[h] *= corr[h];
        }
        #pragma unroll
        for (int j = 0; j < NB; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                s[j][e] = exp2f(s[j][e] - m[e >> 1]);   // masked keys: exp2(-inf) = 0
                l[e >> 1] += s[j][e];                   // this thread's part; the quad's summed at the end
            }
        #pragma unroll
        for (int j = 0; j < ND; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) o[j][e] *= corr[e >> 1];
        att_pv<HD, NB, ND>(o, s, Vs, 0, lane);
        __syncthreads();   // stage kt & 1 is reloaded by the next iteration's load(kt + 2)
    }
    __pipeline_wait_prior(0);   // only empty groups remain; retire them before the block exits
    const int b = bh / H, h = bh % H;
    #pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        const int row = q0 + w * 16 + g + hh * 8;
        const float sum = att_quad_sum(l[hh]);
        if (row >= Nq) continue;
        const float inv = 1.0f / sum;
        att_bf16* orow = out + ((long long)b * Nq + row) * ldo + (long long)h * HD;
        #pragma unroll
        for (int j = 0; j < ND; j++)
            *reinterpret_cast<unsigned*>(orow + j * 8 + 2 * t4) = att_pack(o[j][2 * hh] * inv, o[j][2 * hh + 1] * inv);
        if (t4 == 0) lse[(long long)bh * Nq + row] = (m[hh] + log2f(sum)) / ATT_LOG2E;
    }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attn_fwd_bf16(att_bf16* out, long long ldo, float* lse, const att_bf16* __restrict__ q, const att_bf16* __restrict__ k,
              const att_bf16* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    if (hd == 64) attn_fwd_t<64>(out, ldo, lse, q, k, v, H, Nq, Nk, scale);
    else if (hd == 128) attn_fwd_t<128>(out, ldo, lse, q, k, v, H, Nq, Nk, scale);
    else if (hd == 256) attn_fwd_t<256>(out, ldo, lse, q, k, v, H, Nq, Nk, scale);
}

template <int HD>
__device__ __forceinline__ void attn_bwd_dq_t(att_bf16* dq, const att_bf16* dout, long long ldo, const float* lse,
                                              const float* delta, const att_bf16* q, const att_bf16* k,
                                              const att_bf16* v, int H, int Nq, int Nk, float scale) {
    constexpr int KEYS = ATT_BT(HD), NB = KEYS / 8, ND = HD / 8;
    DYNAMIC_SHARED(att_bf16, att_smem);
    att_bf16* Qs = att_smem;
    att_bf16* Os = Qs + ATT_BQ * HD;
    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int tiles = (Nq + ATT_BQ - 1) / ATT_BQ;
    const int bh = blockIdx.x / tiles, q0 = (blockIdx.x % tiles) * ATT_BQ;
    const int b = bh / H, h = bh % H;
    const att_bf16* kb = k + (long long)bh * Nk * HD;
    const att_bf16* vb = v + (long long)bh * Nk * HD;
    const int kTiles = (Nk + KEYS - 1) / KEYS;
    auto load = [&](int kt) {
        if (kt < kTiles) {
            att_bf16* s = Os + ATT_BQ * HD + (kt & 1) * 2 * KEYS * HD;
            att_load<HD, KEYS>(s, kb, HD, kt * KEYS, Nk, tid);
            att_load<HD, KEYS>(s + KEYS * HD, vb, HD, kt * KEYS, Nk, tid);
        }
        __pipeline_commit();
    };
    att_load<HD, ATT_BQ>(Qs, q + (long long)bh * Nq * HD, HD, q0, Nq, tid);
    att_load<HD, ATT_BQ>(Os, dout + (long long)b * Nq * ldo + (long long)h * HD, ldo, q0, Nq, tid);
    load(0);
    const float sl2 = scale * ATT_LOG2E;
    float L[2], D[2];
    #pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        const int row = q0 + w * 16 + g + hh * 8;
        L[hh] = row < Nq ? lse[(long long)bh * Nq + row] * ATT_LOG2E : 0.0f;
        D[hh] = row < Nq ? delta[(long long)bh * Nq + row] : 0.0f;
    }
    float acc[ND][4];
    att_zero(acc);
    for (int kt = 0; kt < kTiles; kt++) {
        load(kt + 1);
        __pipeline_wait_prior(1);
        __syncthreads();
        const att_bf16* Ks = Os + ATT_BQ * HD + (kt & 1) * 2 * KEYS * HD;
        const att_bf16* Vs = Ks + KEYS * HD;
        float s[NB][4], dp[NB][4];
        att_zero(s);
        att_zero(dp);
        att_qk<HD, NB>(s, Qs, w * 16, Ks, lane);
        att_qk<HD, NB>(dp, Os, w * 16, Vs, lane);
        #pragma unroll
        for (int j = 0; j < NB; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = kt * KEYS + j * 8 + 2 * t4 + (e & 1);
                // a key past Nk has zero k and v rows, so its term vanishes anyway, unless
                // exp2(0 - lse) overflows (lse < -88): then inf x 0 would be NaN
                const float p = key < Nk ? exp2f(s[j][e] * sl2 - L[e >> 1]) : 0.0f;
                s[j][e] = p * (dp[j][e] - D[e >> 1]);   // dS, in place of S
            }
        att_pv<HD, NB, ND>(acc, s, Ks, 0, lane);
        __syncthreads();
    }
    __pipeline_wait_prior(0);
    #pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        const int row = q0 + w * 16 + g + hh * 8;
        if (row >= Nq) continue;
        att_bf16* d = dq + ((long long)bh * Nq + row) * HD;
        #pragma unroll
        for (int j = 0; j < ND; j++) att_acc2(d + j * 8 + 2 * t4, acc[j][2 * hh] * scale, acc[j][2 * hh + 1] * scale);
    }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attn_bwd_dq_bf16(att_bf16* dq, const att_bf16* __restrict__ dout, long long ldo, const float* __restrict__ lse,
                 const float* __restrict__ delta, const att_bf16* __restrict__ q, const att_bf16* __restrict__ k,
                 const att_bf16* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    if (hd == 64) attn_bwd_dq_t<64>(dq, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, scale);
    else if (hd == 128) attn_bwd_dq_t<128>(dq, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, scale);
    else if (hd == 256) attn_bwd_dq_t<256>(dq, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, scale);
}

template <int HD>
__device__ __forceinline__ void attn_bwd_dkdv_t(att_bf16* dk, att_bf16* dv, const att_bf16* dout, long long ldo,
                                                const float* lse, const float* delta, const att_bf16* q,
                                                const att_bf16* k, const att_bf16* v, int H, int Nq, int Nk,
                                                float scale) {
    constexpr int QRY = ATT_BT(HD), NB = QRY / 8, DC = ATT_DC(HD), ND = DC / 8, SPLITS = HD / DC;
    DYNAMIC_SHARED(att_bf16, att_smem);
    att_bf16* Ks = att_smem;
    att_bf16* Vs = Ks + ATT_BKV * HD;
    att_bf16* stages = Vs + ATT_BKV * HD;                                  // 2 x (q, dout) [QRY][HD]
    float* LD = reinterpret_cast<float*>(stages + 4 * QRY * HD);            // 2 x (lse * log2e, delta) [QRY]
    const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int tiles = (Nk + ATT_BKV - 1) / ATT_BKV;
    const int split = blockIdx.x % SPLITS, blk = blockIdx.x / SPLITS;
    const int bh = blk / tiles, k0 = (blk % tiles) * ATT_BKV, c0 = split * DC;
    const int b = bh / H, h = bh % H;
    const att_bf16* qb = q + (long long)bh * Nq * HD;
    const att_bf16* ob = dout + (long long)b * Nq * ldo + (long long)h * HD;
    const int qTiles = (Nq + QRY - 1) / QRY;
    auto load = [&](int qt) {
        if (qt < qTiles) {
            att_bf16* s = stages + (qt & 1) * 2 * QRY * HD;
            att_load<HD, QRY>(s, qb, HD, qt * QRY, Nq, tid);
            att_load<HD, QRY>(s + QRY * HD, ob, ldo, qt * QRY, Nq, tid);
            float* ld = LD + (qt & 1) * 2 * QRY;
            for (int i = tid; i < QRY; i += ATT_THREADS) {   // plain stores: read after the barrier
                const int r = qt * QRY + i;
                ld[i] = r < Nq ? lse[(long long)bh * Nq + r] * ATT_LOG2E : 0.0f;
                ld[QRY + i] = r < Nq ? delta[(long long)bh * Nq + r] : 0.0f;
            }
        }
        __pipeline_commit();
    };
    att_load<HD, ATT_BKV>(Ks, k + (long long)bh * Nk * HD, HD, k0, Nk, tid);
    att_load<HD, ATT_BKV>(Vs, v + (long long)bh * Nk * HD, HD, k0, Nk, tid);
    load(0);
    const float sl2 = scale * ATT_LOG2E;
    float ak[ND][4], av[ND][4];
    att_zero(ak);
    att_zero(av);
    for (int qt = 0; qt < qTiles; qt++) {
        load(qt + 1);
        __pipeline_wait_prior(1);
        __syncthreads();
        const att_bf16* Qs = stages + (qt & 1) * 2 * QRY * HD;
        const att_bf16* Os = Qs + QRY * HD;
        const float* Ls = LD + (qt & 1) * 2 * QRY;
        float s[NB][4], dp[NB][4];   // S^T and dP^T: this warp's 16 keys x QRY queries
        att_zero(s);
        att_zero(dp);
        att_qk<HD, NB>(s, Ks, w * 16, Qs, lane);
        att_qk<HD, NB>(dp, Vs, w * 16, Os, lane);
        #pragma unroll
        for (int j = 0; j < NB; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = j * 8 + 2 * t4 + (e & 1);
                const float p = qt * QRY + i < Nq ? exp2f(s[j][e] * sl2 - Ls[i]) : 0.0f;
                s[j][e] = p;                          // P^T
                dp[j][e] = p * (dp[j][e] - Ls[QRY + i]);   // dS^T
            }
        att_pv<HD, NB, ND>(av, s, Os, c0, lane);
        att_pv<HD, NB, ND>(ak, dp, Qs, c0, lane);
        __syncthreads();
    }
    __pipeline_wait_prior(0);
    #pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        const int key = k0 + w * 16 + g + hh * 8;
        if (key >= Nk) continue;
        const long long base = ((long long)bh * Nk + key) * HD + c0;
        #pragma unroll
        for (int j = 0; j < ND; j++) {
            att_acc2(dk + base + j * 8 + 2 * t4, ak[j][2 * hh] * scale, ak[j][2 * hh + 1] * scale);
            att_acc2(dv + base + j * 8 + 2 * t4, av[j][2 * hh], av[j][2 * hh + 1]);
        }
    }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attn_bwd_dkdv_bf16(att_bf16* dk, att_bf16* dv, const att_bf16* __restrict__ dout, long long ldo, const float* __restrict__ lse,
                   const float* __restrict__ delta, const att_bf16* __restrict__ q, const att_bf16* __restrict__ k,
                   const att_bf16* __restrict__ v, int H, int Nq, int Nk, int hd, float scale) {
    if (hd == 64) attn_bwd_dkdv_t<64>(dk, dv, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, scale);
    else if (hd == 128) attn_bwd_dkdv_t<128>(dk, dv, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, scale);
    else if (hd == 256) attn_bwd_dkdv_t<256>(dk, dv, dout, ldo, lse, delta, q, k, v, H, Nq, Nk, scale);
}
