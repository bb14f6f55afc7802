// Flash attention forward on Hopper (sm_90a) with FlashAttention-3's structure: TMA + mbarrier ring,
// a producer warpgroup, two consumer warpgroups on wgmma, softmax overlapped with the tensor cores.
//   out = softmax(q k^T scale) v,  lse_i = log sum_j exp(q_i . k_j scale),  scale = 1/sqrt(hd) (given)
// with exactly attn_fwd_bf16's semantics and layouts (attention_bf16.cu): q (B, H, Nq, hd), k and v
// (B, H, Nk, hd) head-major bf16; out token-major bf16 (B*Nq, ldo), head h at columns [h*hd, (h+1)*hd);
// lse (B, H, Nq) fp32; fp32 softmax state and accumulation, P rounded to bf16 as the second
// product's A operand (as attn_fwd_bf16 does). Any hd that is a multiple of 8 up to 256 (TMA's
// 16-byte rows); any Nq, Nk >= 1.
// Head dims: the kernel is instantiated for a padded head dim HDP = ATT_WGMMA_HD_PAD(hd) (64, 128 or 256:
// the next multiple of 64 up to 128, else 256) and computes at HDP with hd a runtime argument. The
// operands arrive as TMA tensor maps (Kernels.flashAttnFwdWgmma builds them): each of q, k, v is one
// 2D map over its (B*H*N rows, hd cols) row-major matrix, boxes of ATW_BQ (q) or ATW_KEYS(HDP) (k, v)
// rows x 64 columns (128 bytes) with 128B swizzle, HDP/64 boxes side by side. TMA fills the columns
// hd .. HDP-1 of every box with zeros (they lie outside the map), so S = q k^T over HDP columns is
// q k^T over hd exactly (the extra products are 0 x 0), O = P v has zeros in its columns >= hd,
// and those are not stored; scale is 1/sqrt(hd), the caller's. A box that runs past a head's last
// row reads the next head's rows, or zeros past the tensor (TMA zero fill): keys j >= Nk are masked
// with -inf before the softmax, query rows >= Nq are computed and not stored.
// Launch (Kernels.flashAttnFwdWgmma; FlashAttention.java mirrors the constants below):
//   grid.x = B*H * ceil(Nq / ATW_BQ) (heads outermost: a head's blocks are adjacent and share
// its K/V in L2), block ATW_THREADS = 3 warpgroups, dynamic shared memory ATW_SMEM(ATT_WGMMA_HD_PAD(hd)).
//   warpgroup 0, the producer: setmaxnreg down to ATW_PRODUCER_REGS; one thread loads the block's
//     128 q rows once, then for each key tile waits for a free stage of the ATW_STAGES ring (K and V
//     have their own empty barriers, as the consumers are done with K before V) and loads K, then V.
//   warpgroups 1, 2, the consumers: setmaxnreg up to ATW_CONSUMER_REGS; consumer c owns query rows
//     64c .. 64c+63 of the block. Per key tile j: S = Q K_j^T by wgmma m64nKEYSk16 (both operands
//     from shared memory), online softmax in registers (exp2 of log2(e)-scaled logits, fp32 running
//     max and sum), P = bf16(exp2(S - m)) packed in registers: the accumulator fragment of S is,
//     16 columns at a time, the A fragment of wgmma with A from registers, so O += P V_j is
//     wgmma_bf16_rs with V_j (MN-major) from shared memory and P never touches shared memory.
//   Overlap within a consumer: tile j's S GEMM is issued together with tile j-1's P V GEMM, and
//     tile j's softmax runs while the P V GEMM is in flight (O is rescaled once that retires).
//   Overlap between the consumers (ping-pong): named barriers 1 and 2 order the two warpgroups'
//     GEMM issues, alternately, so one group's softmax runs while the other's GEMMs use the tensor
//     cores. Group c waits on barrier 1 + c (its 128 threads plus the other group's 128 arrivals)
//     before issuing, and arrives on the other group's barrier after; group 1 opens with an arrival
//     that lets group 0 go first and skips its arrival after its last issue, so every episode completes.
// Tiles, and why: 128 queries per block (two m64 wgmma row groups) and 128 keys per tile at hd <= 128
// give S and O 64 + hd/2 fp32 accumulators per thread; at hd 256 the O accumulator alone is 128
// registers, so the key tile is 64 (S: 32). Shared memory (1024-byte aligned for the 128B swizzle):
// q [HDP/64][128 rows][128 B], then ATW_STAGES x (K, V) [HDP/64][KEYS rows][128 B], then the barriers:
// HDP 64: 80 KB, 128: 160 KB, 256: 192 KB (two stages; a third would not fit at HDP 256).
// Requirements (Kernels.flashAttnFwdWgmma checks them): sm_90a (elsewhere the kernel traps; the host
// never launches it there), hd a multiple of ATT_WGMMA_HD_STEP in [ATT_WGMMA_HD_STEP, 256] (else it traps), q/k/v
// 16-byte aligned (TMA), ldo even.
#include "common.cuh"
#include "hopper.cuh"
#include "attention_common.cuh"

#define ATW_BQ 128                                  // queries per block: 2 consumer warpgroups x 64 rows
#define ATW_THREADS 384                             // producer + 2 consumer warpgroups
#define ATW_KEYS_NARROW 128                         // keys per tile at HDP <= 128
#define ATW_KEYS_WIDE 64                            //   and at HDP 256 (O's 128 accumulators leave room for S of 64 keys)
#define ATW_KEYS(hdp) ((hdp) <= 128 ? ATW_KEYS_NARROW : ATW_KEYS_WIDE)
#define ATW_HD_MAX 256
#define ATW_STAGES 2                                // K/V ring depth
#define ATW_BOX_COLS 64                             // a TMA box's columns: 128 bytes, the 128B swizzle span
#define ATW_Q_BYTES(hdp) (ATW_BQ * (hdp) * 2)
#define ATW_KV_BYTES(hdp) (ATW_KEYS(hdp) * (hdp) * 2)  // one K or V tile
#define ATW_BARRIERS (1 + 4 * ATW_STAGES)           // q full; K full, V full, K empty, V empty per stage
#define ATW_SMEM(hdp) (ATW_Q_BYTES(hdp) + 2 * ATW_STAGES * ATW_KV_BYTES(hdp) + 8 * ATW_BARRIERS + 1024)
#define ATW_PRODUCER_REGS 24                        // 24 x 128 + 240 x 256 = the 168 x 384 at launch
#define ATW_CONSUMER_REGS 240
#define ATW_BAR_CONSUMER0 1                         // named barriers of the ping-pong: 1 + consumer index

#ifdef HOPPER_KERNELS

template <int HDP>
__device__ __forceinline__ void attn_fwd_wgmma_t(att_bf16* out, long long ldo, float* lse, const CUtensorMap* mapQ,
                                                 const CUtensorMap* mapK, const CUtensorMap* mapV, int H, int Nq, int Nk,
                                                 int hd, float scale) {
    constexpr int KEYS = ATW_KEYS(HDP), CB = HDP / ATW_BOX_COLS, KV = ATW_KV_BYTES(HDP);
    DYNAMIC_SHARED(unsigned char, atw_raw);
    unsigned char* qs = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(atw_raw) + 1023) & ~(uintptr_t)1023);
    unsigned char* kv = qs + ATW_Q_BYTES(HDP);   // stage s: K at kv + 2s KV, V at kv + (2s + 1) KV
    uint64_t* qfull = reinterpret_cast<uint64_t*>(kv + 2 * ATW_STAGES * KV);
    uint64_t* kfull = qfull + 1;
    uint64_t* vfull = kfull + ATW_STAGES;
    uint64_t* kempty = vfull + ATW_STAGES;
    uint64_t* vempty = kempty + ATW_STAGES;
    const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127;
    const int tiles = (Nq + ATW_BQ - 1) / ATW_BQ;
    const int bh = blockIdx.x / tiles, q0 = (blockIdx.x % tiles) * ATW_BQ;
    const int kTiles = (Nk + KEYS - 1) / KEYS;

    if (threadIdx.x == 0) {
        mbar_init(qfull, 1);
        for (int s = 0; s < ATW_STAGES; s++) {
            mbar_init(&kfull[s], 1);    // the producer's arrive.expect_tx, then the TMA bytes
            mbar_init(&vfull[s], 1);
            mbar_init(&kempty[s], 8);   // one arrival per consumer warp
            mbar_init(&vempty[s], 8);
        }
        mbar_fence_init();
    }
    __syncthreads();

    if (wg == 0) {
        setmaxnreg_dec<ATW_PRODUCER_REGS>();
        if (lt != 0) return;
        mbar_arrive_expect_tx(qfull, ATW_Q_BYTES(HDP));
        for (int cb = 0; cb < CB; cb++) tma_load_2d(qs + cb * ATW_BQ * 128, mapQ, cb * ATW_BOX_COLS, bh * Nq + q0, qfull);
        for (int j = 0; j < kTiles; j++) {
            const int s = j % ATW_STAGES;
            const unsigned parity = ((j / ATW_STAGES) & 1) ^ 1;   // the round before: both consumers are done with it
            const int row = bh * Nk + j * KEYS;
            unsigned char* ks = kv + 2 * s * KV;
            mbar_wait(&kempty[s], parity);
            mbar_arrive_expect_tx(&kfull[s], KV);
            for (int cb = 0; cb < CB; cb++) tma_load_2d(ks + cb * KEYS * 128, mapK, cb * ATW_BOX_COLS, row, &kfull[s]);
            mbar_wait(&vempty[s], parity);
            mbar_arrive_expect_tx(&vfull[s], KV);
            for (int cb = 0; cb < CB; cb++) tma_load_2d(ks + KV + cb * KEYS * 128, mapV, cb * ATW_BOX_COLS, row, &vfull[s]);
        }
        return;
    }

    setmaxnreg_inc<ATW_CONSUMER_REGS>();
    const int c = wg - 1;   // query rows 64c .. 64c + 63 of the block
    const int lane = lt & 31, g = lane >> 2, t = lane & 3;
    const float sl2 = scale * ATT_LOG2E;   // logits in the log2 domain: exp2f
    float sacc[KEYS / 2];                  // S (then P in fp32): the m64nKEYS accumulator fragment
    float o[HDP / 2];                      // O: the m64nHDP accumulator fragment
    uint32_t pa[KEYS / 16][4];             // P in bf16: the A fragments of the P V GEMM's k16 steps
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};   // rows g and g + 8: running max (log2 units), sum

    // Ping-pong: this group's turn to issue GEMMs, and the hand-over to the other group.
    auto turnBegin = [&]() { named_bar_sync(ATW_BAR_CONSUMER0 + c, 2 * 128); };
    auto turnEnd = [&](bool last) {
        if (c == 0 || !last) named_bar_arrive(ATW_BAR_CONSUMER0 + (c ^ 1), 2 * 128);
    };
    // A stage's K or V released once the GEMMs reading it have retired: one arrival per warp.
    auto release = [&](uint64_t* bar) {
        __syncwarp();
        if (lane == 0) mbar_arrive(bar);
    };
    // S = Q K_j^T: Q (this group's 64 rows) and K_j both K-major; the k16 step ks is 32 bytes along
    // the 128-byte rows of column block ks / 4.
    auto issueS = [&](int j) {
        const int s = j % ATW_STAGES;
        mbar_wait(&kfull[s], (j / ATW_STAGES) & 1);
        const unsigned char* ks = kv + 2 * s * KV;
        wgmma_pin(sacc);
        wgmma_fence();
        #pragma unroll
        for (int kk = 0; kk < HDP / 16; kk++) {
            const uint64_t da = wgmma_desc(qs + (kk / 4) * ATW_BQ * 128 + c * 64 * 128 + (kk % 4) * 32, WG_SWIZZLE_128B, 16, 1024);
            const uint64_t db = wgmma_desc(ks + (kk / 4) * KEYS * 128 + (kk % 4) * 32, WG_SWIZZLE_128B, 16, 1024);
            wgmma_bf16<KEYS, 0, 0>(sacc, da, db, kk > 0);
        }
        wgmma_commit();
    };
    // O += P_j V_j: V_j MN-major (rows = keys, the k of this product; 64 columns of hd per block, the
    // blocks KEYS x 128 bytes apart); the k16 step kc starts 16 rows further.
    auto issuePV = [&](int j, bool first) {
        const int s = j % ATW_STAGES;
        mbar_wait(&vfull[s], (j / ATW_STAGES) & 1);
        const unsigned char* vs = kv + (2 * s + 1) * KV;
        wgmma_pin(o);
        wgmma_fence();
        #pragma unroll
        for (int kc = 0; kc < KEYS / 16; kc++)
            wgmma_bf16_rs<HDP, 1>(o, pa[kc], wgmma_desc(vs + kc * 16 * 128, WG_SWIZZLE_128B, KEYS * 128, 1024), !first || kc > 0);
        wgmma_commit();
    };
    // Online softmax of tile j in sacc: masks keys >= Nk, updates m and l, leaves P = exp2(S sl2 - m)
    // in sacc; returns the factors that rescale O's rows g and g + 8 to the new maximum.
    auto softmax = [&](int j, float (&corr)[2]) {
        wgmma_pin(sacc);
        if ((j + 1) * KEYS > Nk) {
            #pragma unroll
            for (int i = 0; i < KEYS / 2; i++)
                if (j * KEYS + 8 * (i >> 2) + 2 * t + (i & 1) >= Nk) sacc[i] = -INFINITY;
        }
        float mx[2] = {-INFINITY, -INFINITY};
        #pragma unroll
        for (int i = 0; i < KEYS / 2; i++) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], sacc[i]);
        #pragma unroll
        for (int h = 0; h < 2; h++) {
            const float mNew = fmaxf(m[h], att_quad_max(mx[h]) * sl2);   // finite: every tile has a key < Nk
            corr[h] = exp2f(m[h] - mNew);                                  // 0 on the first tile
            m[h] = mNew;
            l[h] *= corr[h];
        }
        #pragma unroll
        for (int i = 0; i < KEYS / 2; i++) {
            const int h = (i >> 1) & 1;
            sacc[i] = exp2f(fmaf(sacc[i], sl2, -m[h]));   // masked keys: exp2(-inf) = 0
            l[h] += sacc[i];                              // this thread's part; the quad's summed at the end
        }
    };
    // P (fp32 accumulator fragment) -> bf16 A fragments: columns 16kc .. 16kc+15 are d[8kc .. 8kc+7].
    auto packP = [&]() {
        #pragma unroll
        for (int kc = 0; kc < KEYS / 16; kc++)
            #pragma unroll
            for (int r = 0; r < 4; r++) pa[kc][r] = att_pack(sacc[8 * kc + 2 * r], sacc[8 * kc + 2 * r + 1]);
    };

    mbar_wait(qfull, 0);
    if (c == 1) named_bar_arrive(ATW_BAR_CONSUMER0, 2 * 128);   // group 0 issues first
    float corr[2];
    turnBegin();
    issueS(0);
    turnEnd(false);
    wgmma_wait<0>();
    release(&kempty[0]);
    softmax(0, corr);
    packP();
    for (int j = 1; j < kTiles; j++) {
        turnBegin();
        issueS(j);
        issuePV(j - 1, j == 1);
        turnEnd(false);
        wgmma_wait<1>();                        // S_j has retired (P_{j-1} V_{j-1} may still run)
        release(&kempty[j % ATW_STAGES]);
        softmax(j, corr);
        wgmma_wait<0>();                        // P_{j-1} V_{j-1} has retired: O and pa are ours again
        wgmma_pin(o);
        release(&vempty[(j - 1) % ATW_STAGES]);
        #pragma unroll
        for (int i = 0; i < HDP / 2; i++) o[i] *= corr[(i >> 1) & 1];
        packP();
    }
    turnBegin();
    issuePV(kTiles - 1, kTiles == 1);
    turnEnd(true);
    wgmma_wait<0>();
    wgmma_pin(o);
    release(&vempty[(kTiles - 1) % ATW_STAGES]);

    // Rows g and g + 8 of this warp's 16; columns 8j + 2t, +1 of the accumulator fragment, those
    // below hd (hd is a multiple of 8: a column group of 8 is all in or all out).
    const int b = bh / H, h = bh % H;
    #pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        const int row = q0 + 64 * c + 16 * (lt >> 5) + g + 8 * hh;
        const float sum = att_quad_sum(l[hh]);
        if (row >= Nq) continue;
        const float inv = 1.0f / sum;
        att_bf16* orow = out + ((long long)b * Nq + row) * ldo + (long long)h * hd;
        #pragma unroll
        for (int jj = 0; jj < HDP / 8; jj++)
            if (8 * jj < hd) *reinterpret_cast<unsigned*>(orow + 8 * jj + 2 * t) = att_pack(o[4 * jj + 2 * hh] * inv, o[4 * jj + 2 * hh + 1] * inv);
        if (t == 0) lse[(long long)bh * Nq + row] = (m[hh] + log2f(sum)) / ATT_LOG2E;
    }
}

#endif  // HOPPER_KERNELS

extern "C" __global__ void __launch_bounds__(ATW_THREADS, 1)
attn_fwd_wgmma(att_bf16* out, long long ldo, float* lse, const __grid_constant__ CUtensorMap mapQ,
               const __grid_constant__ CUtensorMap mapK, const __grid_constant__ CUtensorMap mapV, int H, int Nq, int Nk,
               int hd, float scale) {
#ifdef HOPPER_KERNELS
    if (hd < ATT_WGMMA_HD_STEP || hd > ATW_HD_MAX || hd % ATT_WGMMA_HD_STEP != 0) ATT_REFUSE("attn_fwd_wgmma: hd is not a multiple of 8 in [8, 256]");
    switch (ATT_WGMMA_HD_PAD(hd)) {
        case 64: attn_fwd_wgmma_t<64>(out, ldo, lse, &mapQ, &mapK, &mapV, H, Nq, Nk, hd, scale); break;
        case 128: attn_fwd_wgmma_t<128>(out, ldo, lse, &mapQ, &mapK, &mapV, H, Nq, Nk, hd, scale); break;
        default: attn_fwd_wgmma_t<256>(out, ldo, lse, &mapQ, &mapK, &mapV, H, Nq, Nk, hd, scale); break;
    }
#elif defined(__CUDA_ARCH__)
    __trap();   // not sm_90a (the compute_90 PTX JIT-compiled for a newer GPU): fail the launch, never a silent no-op
#endif
}
