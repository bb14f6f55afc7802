// Flash attention backward for Hopper (sm_90a) on TMA + mbarriers + wgmma, FlashAttention-3's
// structure: attention_bf16.cu's backward (same inputs, outputs and semantics; its header has the
// formulas) as ONE pass over the queries per key block, in place of that file's two passes.
//   dv_j += sum_i P_ij dout_i,  dk_j += scale sum_i dS_ij q_i,  dq_i += scale sum_j dS_ij k_j,
//   P_ij = exp(q_i . k_j scale - lse_i),  dS_ij = P_ij (dout_i . v_j - delta_i)
// with delta from attention.cu's attn_bwd_delta_bf16 (run first, as for the mma.sync backward).
// Layouts: q (B, H, Nq, hd), k and v (B, H, Nk, hd) head-major bf16; dout token-major bf16 (B*Nq,
// ldo), head h at columns [h*hd, (h+1)*hd); lse, delta (B, H, Nq) fp32; dk, dv (B, H, Nk, hd) bf16,
// accumulated once at the end (read, add in fp32, round once); dq goes through dqAcc, an fp32
// (B, H, Nq, hd) scratch that starts zeroed: every key block adds its part by TMA reduce-add (the
// key blocks of a head all touch every query row, so dq has many writers; the reduce is atomic
// per element, done in L2), and attn_bwd_dq_add then does dq += scale * dqAcc (read, add in fp32,
// round once).
// Tensor maps (Kernels.flashAttnBwdWgmma; 128B swizzle, boxes of 64 columns = one 128-byte row):
//   q: rows B*H*Nq, cols hd, box AWB_BQ x 64;  k, v: rows B*H*Nk, cols hd, box AWB_BK x 64;
//   dout: rows B*Nq, cols H*hd, row stride ldo, box AWB_BQ x 64 at column h*hd + 64j;
//   dqAcc: fp32 rows B*H*Nq, cols hd, box AWB_BQ x AWB_DQ_COLS (128 bytes).
// A tile that runs past its head's rows reads the next head's (or TMA's zeros past the tensor):
// query rows >= Nq get lse = +inf (so P = 0, dS = 0) and are not written; key rows >= Nk get P = 0
// by index and are not written.
// Head dims: any multiple of 8 up to 128. The kernel is instantiated for HDP = ATT_WGMMA_HD_PAD(hd) (64 or
// 128) and computes at HDP with hd a runtime argument; scale is 1/sqrt(hd), the caller's. Columns
// hd .. HDP-1 of the tiles, and why no result depends on them:
//   q, k, v: outside their maps (cols = hd), so TMA fills them with zeros: S^T = k q^T is exact
//     (0 x 0 terms), dq = dS k and dK = dS^T q have zeros there, and dq's reduce-add map (cols =
//     hd) clips them (boxes that start at or past hd are not issued).
//   dout: its map spans all heads (cols = H*hd: dout is token-major), so head h's last box holds
//     head h+1's first HDP - hd columns there (head H-1's: zeros, past the map). They enter two
//     products: dP^T = v dout^T, where each meets a zero column of v (0 x x = 0: dP^T is exact), and
//     dV = P^T dout, where they make dV's columns >= hd, which are not stored (nor are dK's).
//   So another head's values reach this head's results only as 0 x x, exactly as the rows past a
//     head's end do (above: P = 0 or dS = 0 times the next head's rows): exact while the inputs are
//     finite. A non-finite q, k, v or dout makes the step's gradients non-finite in any case (every
//     head feeds the in-projection's weight gradient), so neither kind of read changes an outcome.
// Launch: grid.x = B*H * ceil(Nk/AWB_BK) (heads outermost, one flat x), block AWB_THREADS = three
// warpgroups, dynamic shared memory AWB_SMEM(ATT_WGMMA_HD_PAD(hd)) (Kernels / FlashAttention mirror these).
//   warpgroup 0, the producer (setmaxnreg down): warp 0 loads k, v once, then per query tile of
//     AWB_BQ rows waits for a free ring stage, writes lse * log2(e) and delta into it (plain stores,
//     one arrival per lane on the stage's full barrier) and lane 0 issues the q and dout TMA boxes
//     (expect_tx on the same barrier). Its other warps exit.
//   warpgroups 1, 2, the consumers (setmaxnreg up): consumer c owns keys [64c, 64c+64) of the block:
//     S^T = k q^T and dP^T = v dout^T (m64n64, K-major both, 64 keys x 64 queries), P^T and dS^T in
//     fp32 registers, written as bf16 to shared memory (fence_proxy_async: wgmma reads them next),
//     then dV += P^T dout and dK += dS^T q (m64n{HDP}, A K-major from P^T / dS^T, B MN-major: the
//     q / dout tiles read transposed) into fp32 registers held across the whole walk, and
//     dq_tile = dS k (m64n64, A MN-major: dS^T read transposed; B MN-major: k): at HDP 128 consumer c
//     takes dq's columns [64c, 64c+64) over all 128 keys, at HDP 64 all columns over its own 64
//     keys. dq's wgmmas are their own commit group, retired first: while dV and dK still run, the
//     tile goes to the consumer's shared dq tile and its thread 0 reduce-adds it into dqAcc by TMA.
//   Barriers: full/empty per stage (the ring), kv (k, v landed), dsReady (both consumers wrote
//   this tile's P^T and dS^T: dq reads the other consumer's rows), dsFree (both consumers'
//   wgmmas reading them retired: the next tile may overwrite them), and per consumer dqFull (its
//   warps wrote the dq tile) and dqFree (the last reduce-add has read it); one phase per query tile.
// Why: the mma.sync backward recomputes S and dP in two kernels (2 of 7 N^2 hd products again) and
// holds its operands in registers; here the key block stays in shared memory, every product is a
// wgmma fed by TMA, and dq's cross-block sum is what the fp32 scratch and the reduce-adds pay for it.
// Shared memory (1024-byte aligned: the 128B swizzle is a function of address bits 4-9), bytes:
//   k, v: HDP/64 boxes each [AWB_BK][64] bf16 (K-major for S^T, dP^T; MN-major for dq's B)
//   P^T, dS^T: [AWB_BK][AWB_BQ] bf16, 128B-swizzled rows of 64 queries
//   dq tiles: per consumer 64 / AWB_DQ_COLS boxes [AWB_BQ][AWB_DQ_COLS] fp32, 128B-swizzled
//   AWB_STAGES stages of q, dout (HDP/64 boxes [AWB_BQ][64]) and lse, delta [AWB_BQ] fp32 (1 KB)
//   then the mbarriers.
// Requirements (checked by Kernels): sm_90a (elsewhere the kernel traps; the host refuses first),
// hd a multiple of ATT_WGMMA_HD_STEP in [ATT_WGMMA_HD_STEP, AWB_HD_MAX] (else it traps), 16-byte aligned tensors,
// ldo a multiple of 8.
#include "common.cuh"
#include "hopper.cuh"
#include "attention_common.cuh"

#define AWB_BK 128          // keys per block (64 per consumer warpgroup)
#define AWB_BQ 64           // queries per ring stage
#define AWB_STAGES 2        // ring depth
#define AWB_THREADS 384     // a producer and two consumer warpgroups
#define AWB_PRODUCER_REGS 24
#define AWB_CONSUMER_REGS 240
#define AWB_HD_MAX 128      // hd 256's dK and dV accumulators would not fit the registers
#define AWB_LD_BYTES 1024   // a stage's lse and delta (2 x AWB_BQ fp32), padded to keep boxes 1024-aligned
#define AWB_STAGE_BYTES(hdp) (2 * AWB_BQ * (hdp) * 2 + AWB_LD_BYTES)
#define AWB_DQ_COLS 32      // fp32 columns per dq reduce box (one 128-byte swizzle row)
#define AWB_DQ_BYTES (AWB_BQ * 64 * 4)   // a consumer's dq tile: AWB_BQ x 64 fp32
// k, v, P^T, dS^T, the two consumers' dq tiles, the stages, barriers padded to 1024, 1024 to align the base.
#define AWB_SMEM(hdp) (2 * AWB_BK * (hdp) * 2 + 2 * AWB_BK * AWB_BQ * 2 + 2 * AWB_DQ_BYTES + AWB_STAGES * AWB_STAGE_BYTES(hdp) + 2048)

#ifdef HOPPER_KERNELS

// Byte offset of element (r, c) of a tile of 128-byte rows (64 bf16), 128B-swizzled as TMA writes it.
__device__ __forceinline__ int awb_at(int r, int c) { return r * 128 + ((((c >> 3) ^ r) & 7) << 4) + ((c & 7) << 1); }

template <int HDP>
__device__ __forceinline__ void awb_bwd(const CUtensorMap* mapQ, const CUtensorMap* mapK, const CUtensorMap* mapV,
                                        const CUtensorMap* mapO, const CUtensorMap* mapDq, att_bf16* dk, att_bf16* dv,
                                        const float* lse, const float* delta, int H, int Nq, int Nk, int hd, float scale) {
    constexpr int BOXES = HDP / 64;                      // 64-column boxes per row of HDP
    constexpr int KV_BOX = AWB_BK * 128, Q_BOX = AWB_BQ * 128;
    constexpr int STAGE = AWB_STAGE_BYTES(HDP);
    DYNAMIC_SHARED(unsigned char, awb_raw);
    unsigned char* Ks = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(awb_raw) + 1023) & ~(uintptr_t)1023);
    unsigned char* Vs = Ks + BOXES * KV_BOX;
    unsigned char* Pt = Vs + BOXES * KV_BOX;             // P^T [key][query]
    unsigned char* dSt = Pt + AWB_BK * AWB_BQ * 2;       // dS^T [key][query]
    unsigned char* dQs = dSt + AWB_BK * AWB_BQ * 2;      // per consumer: AWB_BQ x 64 fp32 as 32-column boxes
    unsigned char* ring = dQs + 2 * AWB_DQ_BYTES;
    uint64_t* full = reinterpret_cast<uint64_t*>(ring + AWB_STAGES * STAGE);
    uint64_t* empty = full + AWB_STAGES;
    uint64_t* kvFull = empty + AWB_STAGES;
    uint64_t* dsReady = kvFull + 1;
    uint64_t* dsFree = dsReady + 1;
    uint64_t* dqFull = dsFree + 1;   // [2]: a consumer's dq tile is written
    uint64_t* dqFree = dqFull + 2;   // [2]: its reduce-add has read it

    const int kTiles = (Nk + AWB_BK - 1) / AWB_BK, qTiles = (Nq + AWB_BQ - 1) / AWB_BQ;
    const int bh = blockIdx.x / kTiles, k0 = (blockIdx.x % kTiles) * AWB_BK;
    const int b = bh / H, h = bh % H;
    const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127, lane = lt & 31;

    if (threadIdx.x == 0) {
        for (int s = 0; s < AWB_STAGES; s++) {
            mbar_init(&full[s], 32);   // the producer warp's lanes (lane 0's with the TMA bytes)
            mbar_init(&empty[s], 8);   // one arrival per consumer warp
        }
        mbar_init(kvFull, 1);
        mbar_init(dsReady, 8);
        mbar_init(dsFree, 8);
        for (int c = 0; c < 2; c++) {
            mbar_init(&dqFull[c], 4);   // the consumer's warps
            mbar_init(&dqFree[c], 1);   // its thread 0, once the bulk reduce has read the tile
        }
        mbar_fence_init();
    }
    __syncthreads();

    if (wg == 0) {
        setmaxnreg_dec<AWB_PRODUCER_REGS>();
        if (lt >= 32) return;
        if (lane == 0) {
            mbar_arrive_expect_tx(kvFull, 2 * BOXES * KV_BOX);
            for (int j = 0; j < BOXES; j++) {
                tma_load_2d(Ks + j * KV_BOX, mapK, 64 * j, bh * Nk + k0, kvFull);
                tma_load_2d(Vs + j * KV_BOX, mapV, 64 * j, bh * Nk + k0, kvFull);
            }
        }
        for (int qt = 0; qt < qTiles; qt++) {
            const int s = qt % AWB_STAGES;
            unsigned char* st = ring + s * STAGE;
            mbar_wait(&empty[s], ((qt / AWB_STAGES) & 1) ^ 1);   // the consumers are done with its last round
            float* ld = reinterpret_cast<float*>(st + 2 * BOXES * Q_BOX);
            for (int i = lane; i < AWB_BQ; i += 32) {
                const int r = qt * AWB_BQ + i;
                ld[i] = r < Nq ? lse[(long long)bh * Nq + r] * ATT_LOG2E : INFINITY;   // +inf: P = 0 past Nq
                ld[AWB_BQ + i] = r < Nq ? delta[(long long)bh * Nq + r] : 0.0f;
            }
            if (lane == 0) {
                mbar_arrive_expect_tx(&full[s], 2 * BOXES * Q_BOX);
                for (int j = 0; j < BOXES; j++) {
                    tma_load_2d(st + j * Q_BOX, mapQ, 64 * j, bh * Nq + qt * AWB_BQ, &full[s]);
                    tma_load_2d(st + (BOXES + j) * Q_BOX, mapO, h * hd + 64 * j, b * Nq + qt * AWB_BQ, &full[s]);
                }
            } else {
                mbar_arrive(&full[s]);
            }
        }
        return;
    }

    setmaxnreg_inc<AWB_CONSUMER_REGS>();
    const int c = wg - 1, w = lt >> 5, g = lane >> 2, t = lane & 3;
    // dq's share of this consumer: columns [dqCol, dqCol + 64) over keys [dqKey, dqKey + DQ_KEYS)
    constexpr int DQ_KEYS = HDP == 128 ? AWB_BK : AWB_BK / 2;
    const int dqCol = HDP == 128 ? 64 * c : 0, dqKey = HDP == 128 ? 0 : 64 * c;
    const float sl2 = scale * ATT_LOG2E;
    bool keyOk[2];
    #pragma unroll
    for (int hh = 0; hh < 2; hh++) keyOk[hh] = k0 + 64 * c + 16 * w + g + 8 * hh < Nk;
    float adk[HDP / 2], adv[HDP / 2];
    #pragma unroll
    for (int i = 0; i < HDP / 2; i++) adk[i] = adv[i] = 0.0f;
    mbar_wait(kvFull, 0);

    for (int qt = 0; qt < qTiles; qt++) {
        const int s = qt % AWB_STAGES;
        mbar_wait(&full[s], (qt / AWB_STAGES) & 1);
        const unsigned char* Qs = ring + s * STAGE;
        const unsigned char* Os = Qs + BOXES * Q_BOX;
        const float* ld = reinterpret_cast<const float*>(Os + BOXES * Q_BOX);

        // S^T = k q^T, dP^T = v dout^T: this consumer's 64 keys x 64 queries, over hd
        float sT[32], dpT[32];
        wgmma_fence();
        #pragma unroll
        for (int ks = 0; ks < HDP / 16; ks++) {
            const int box = ks / 4, off = (ks % 4) * 32;
            wgmma_bf16<64, 0, 0>(sT, wgmma_desc(Ks + box * KV_BOX + c * 64 * 128 + off, WG_SWIZZLE_128B, 16, 1024),
                                 wgmma_desc(Qs + box * Q_BOX + off, WG_SWIZZLE_128B, 16, 1024), ks > 0);
        }
        #pragma unroll
        for (int ks = 0; ks < HDP / 16; ks++) {
            const int box = ks / 4, off = (ks % 4) * 32;
            wgmma_bf16<64, 0, 0>(dpT, wgmma_desc(Vs + box * KV_BOX + c * 64 * 128 + off, WG_SWIZZLE_128B, 16, 1024),
                                 wgmma_desc(Os + box * Q_BOX + off, WG_SWIZZLE_128B, 16, 1024), ks > 0);
        }
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_pin(sT);
        wgmma_pin(dpT);

        // P^T and dS^T (fp32), then bf16 into shared memory once the last tile's readers are done
        #pragma unroll
        for (int j = 0; j < 8; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = 8 * j + 2 * t + (e & 1);
                const float p = keyOk[e >> 1] ? exp2f(sT[4 * j + e] * sl2 - ld[i]) : 0.0f;
                sT[4 * j + e] = p;
                dpT[4 * j + e] = p * (dpT[4 * j + e] - ld[AWB_BQ + i]);
            }
        mbar_wait(dsFree, (qt & 1) ^ 1);
        #pragma unroll
        for (int j = 0; j < 8; j++)
            #pragma unroll
            for (int hh = 0; hh < 2; hh++) {
                const int r = 64 * c + 16 * w + g + 8 * hh, col = 8 * j + 2 * t;
                *reinterpret_cast<unsigned*>(Pt + awb_at(r, col)) = att_pack(sT[4 * j + 2 * hh], sT[4 * j + 2 * hh + 1]);
                *reinterpret_cast<unsigned*>(dSt + awb_at(r, col)) = att_pack(dpT[4 * j + 2 * hh], dpT[4 * j + 2 * hh + 1]);
            }
        fence_proxy_async();   // generic-proxy stores -> visible to wgmma's reads
        __syncwarp();
        if (lane == 0) mbar_arrive(dsReady);
        mbar_wait(dsReady, qt & 1);

        // dq_tile = dS k (one commit group), then dV += P^T dout, dK += dS^T q (k = this tile's 64 queries)
        float dqT[32];
        wgmma_pin(adk);
        wgmma_pin(adv);
        wgmma_fence();
        #pragma unroll
        for (int ks = 0; ks < DQ_KEYS / 16; ks++) {
            const int key = dqKey + 16 * ks;
            wgmma_bf16<64, 1, 1>(dqT, wgmma_desc(dSt + key * 128, WG_SWIZZLE_128B, AWB_BK * 128, 1024),
                                 wgmma_desc(Ks + (dqCol / 64) * KV_BOX + key * 128, WG_SWIZZLE_128B, KV_BOX, 1024), ks > 0);
        }
        wgmma_commit();
        #pragma unroll
        for (int ks = 0; ks < AWB_BQ / 16; ks++) {
            const uint64_t dOut = wgmma_desc(Os + ks * 16 * 128, WG_SWIZZLE_128B, Q_BOX, 1024);
            const uint64_t dQin = wgmma_desc(Qs + ks * 16 * 128, WG_SWIZZLE_128B, Q_BOX, 1024);
            wgmma_bf16<HDP, 0, 1>(adv, wgmma_desc(Pt + c * 64 * 128 + ks * 32, WG_SWIZZLE_128B, 16, 1024), dOut, 1);
            wgmma_bf16<HDP, 0, 1>(adk, wgmma_desc(dSt + c * 64 * 128 + ks * 32, WG_SWIZZLE_128B, 16, 1024), dQin, 1);
        }
        wgmma_commit();
        wgmma_wait<1>();   // dq's group has retired; dV and dK run on under the dq epilogue
        wgmma_pin(dqT);

        // dq's tile -> this consumer's shared tile (fp32, 128B-swizzled 32-column boxes), then thread 0
        // reduce-adds it into dqAcc by TMA (rows past Nq add zeros: their dS is 0)
        unsigned char* dqs = dQs + c * AWB_DQ_BYTES;
        if (lt == 0 && qt > 0) {
            tma_store_wait();   // the last tile's reduce has read the shared tile
            mbar_arrive(&dqFree[c]);
        }
        mbar_wait(&dqFree[c], (qt & 1) ^ 1);
        #pragma unroll
        for (int j = 0; j < 8; j++)
            #pragma unroll
            for (int hh = 0; hh < 2; hh++) {
                const int r = 16 * w + g + 8 * hh, col = 8 * (j % 4) + 2 * t;   // in box j / 4
                float* d = reinterpret_cast<float*>(dqs + (j / 4) * (AWB_BQ * 128) + r * 128 + ((((col >> 2) ^ r) & 7) << 4)) + (col & 3);
                d[0] = dqT[4 * j + 2 * hh];
                d[1] = dqT[4 * j + 2 * hh + 1];
            }
        fence_proxy_async();
        __syncwarp();
        if (lane == 0) mbar_arrive(&dqFull[c]);
        if (lt == 0) {
            mbar_wait(&dqFull[c], qt & 1);
            for (int box = 0; box < 64 / AWB_DQ_COLS; box++)   // a box wholly past hd would add nothing
                if (dqCol + AWB_DQ_COLS * box < hd)
                    tma_reduce_add_2d(mapDq, dqs + box * (AWB_BQ * 128), dqCol + AWB_DQ_COLS * box, bh * Nq + qt * AWB_BQ);
            tma_store_commit();
        }

        wgmma_wait<0>();
        wgmma_pin(adk);
        wgmma_pin(adv);
        __syncwarp();
        if (lane == 0) {
            mbar_arrive(&empty[s]);   // q, dout, lse, delta of this stage are read
            mbar_arrive(dsFree);     // and P^T, dS^T
        }
    }
    if (lt == 0) tma_store_wait();   // the shared dq tile must outlive its last reduce's read

    #pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        if (!keyOk[hh]) continue;
        const long long base = ((long long)bh * Nk + k0 + 64 * c + 16 * w + g + 8 * hh) * hd;
        #pragma unroll
        for (int j = 0; j < HDP / 8; j++) {
            if (8 * j >= hd) break;   // hd is a multiple of 8: a column group of 8 is all in or all out
            const int col = 8 * j + 2 * t;
            att_acc2(dk + base + col, scale * adk[4 * j + 2 * hh], scale * adk[4 * j + 2 * hh + 1]);
            att_acc2(dv + base + col, adv[4 * j + 2 * hh], adv[4 * j + 2 * hh + 1]);
        }
    }
}

#endif  // HOPPER_KERNELS

extern "C" __global__ void __launch_bounds__(AWB_THREADS, 1)
attn_bwd_wgmma(const __grid_constant__ CUtensorMap mapQ, const __grid_constant__ CUtensorMap mapK,
               const __grid_constant__ CUtensorMap mapV, const __grid_constant__ CUtensorMap mapO,
               const __grid_constant__ CUtensorMap mapDq,
               att_bf16* dk, att_bf16* dv, const float* __restrict__ lse, const float* __restrict__ delta, int H,
               int Nq, int Nk, int hd, float scale) {
#ifdef HOPPER_KERNELS
    if (hd < ATT_WGMMA_HD_STEP || hd > AWB_HD_MAX || hd % ATT_WGMMA_HD_STEP != 0) ATT_REFUSE("attn_bwd_wgmma: hd is not a multiple of 8 in [8, 128]");
    // (128 first: in the other order ptxas spills a register of the epilogue's, 4 bytes)
    if (ATT_WGMMA_HD_PAD(hd) == 128) awb_bwd<128>(&mapQ, &mapK, &mapV, &mapO, &mapDq, dk, dv, lse, delta, H, Nq, Nk, hd, scale);
    else awb_bwd<64>(&mapQ, &mapK, &mapV, &mapO, &mapDq, dk, dv, lse, delta, H, Nq, Nk, hd, scale);
#elif defined(__CUDA_ARCH__)
    __trap();   // not sm_90a: fail the launch, never a silent no-op
#endif
}

// dq[i] += scale * dqAcc[i] for n elements (bf16 dq: read, add in fp32, round once): attn_bwd_wgmma's
// fp32 dq sum into the bf16 gradient. Any architecture; grid-stride, 256 threads.
extern "C" __global__ void __launch_bounds__(256)
attn_bwd_dq_add(att_bf16* dq, const float* __restrict__ dqAcc, long long n, float scale) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        dq[i] = __float2bfloat16_rn(__bfloat162float(dq[i]) + scale * dqAcc[i]);
    }
}
