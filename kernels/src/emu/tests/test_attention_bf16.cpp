// attn_fwd_bf16, attn_bwd_dq_bf16, attn_bwd_dkdv_bf16 (mma.sync + ldmatrix + cp.async flash
// attention), attn_fwd_wgmma (Hopper: TMA ring, wgmma, ping-pong consumers; the same bounds as
// attn_fwd_bf16, 128-query blocks and 128- or 64-key tiles crossed by the same lengths), attn_bwd_wgmma +
// attn_bwd_dq_add (Hopper: the backward in one pass per 128-key block, hd 64 and 128; the same inputs
// and bounds as the mma.sync backward) and the delta kernel they use (attention.cu's attn_bwd_delta_bf16) against float64
// of the same bf16 inputs: hd 64, 128, 256, and on the Hopper kernels head dims that are not a multiple
// of 64 (run at the next instantiated one, TMA zero-filling the columns past hd): 112 (ViT-e's), 200
// (forward), 40 and 72 (backward: one and two 64-column boxes, dq reduce boxes clipped and skipped;
// a padded dout box reads the next head's columns, which must not matter); sequence lengths on both sides of every tile edge (1,
// 15, 17, 63, 65, 197 against the 64-row blocks and the 32/64-key tiles); B*H > 1; out and dout
// as column slices whose padding holds bf16 NaN (a write outside the head's columns or a read of
// the padding shows); out and lse start as NaN bytes (an unwritten element fails); dq, dk, dv
// (bf16) start as random values they accumulate onto (+=: a kernel that overwrites, or adds
// twice, fails). The backward is fed float(exact lse, delta), so each kernel's error is its own;
// the delta kernel is checked on the forward's own out.
// Element-wise bounds (docs/DESIGN.md, tolerances; factor 2 to spare on the rounding terms), with
// u = 2^-8 (bf16 RNE), e_ij = (hd+8) 2^-23 scale sum_d |q_id k_jd| + 2^-21 (|s_ij| + |lse_i| + 1)
// the relative error of p_ij (fp32 scores, exp2f, the fp32 lse), A_id = sum_j P_ij |v_jd|:
//   out: (2u + 4 max_j e_ij + (Nk+8) 2^-23) A_id + u |out_id|       (P rounded to bf16; bf16 out)
//   lse: 2 max_j e_ij + (Nk+8) 2^-23 + 2^-20 (|lse_i| + 1)
//   delta: (hd+8) 2^-23 sum_d |out_id dout_id|
//   dS_ij error  E_ij = u |dS_ij| + P_ij (e_ij |dP_ij - delta_i| + (hd+8) 2^-23 sum_d |dout_id v_jd| + 2^-23 |delta_i|)
//   dq: scale sum_j (2 E_ij + (Nk+8) 2^-23 |dS_ij|) |k_jd|,  dk: scale sum_i (2 E_ij + (Nq+8) 2^-23 |dS_ij|) |q_id|
//   dv: sum_i (2 (u + e_ij) + (Nq+8) 2^-23) P_ij |dout_id|
// dq, dk, dv are bf16, start + sum rounded once: each bound above plus u |want| (half an ulp at
// most, doubled to spare).
#include <cuda.h>

#include "harness.h"

#include <algorithm>

using namespace t;

namespace {

// The launch constants of attention_bf16.cu's header (Kernels.java holds the same).
constexpr int BQ = 64, BKV = 64, THREADS = 128, DELTA_ROWS = 8;   // DELTA_ROWS: attention.cu's ROWS
constexpr int bt(int hd) { return hd <= 64 ? 32 : 16; }
constexpr int fwdBk(int hd) { return hd <= 128 ? 64 : 32; }
constexpr int dc(int hd) { return hd < 128 ? hd : 128; }
constexpr unsigned smemFwd(int hd) { return (BQ + 4 * fwdBk(hd)) * hd * 2; }
constexpr unsigned smemDq(int hd) { return (2 * BQ + 4 * bt(hd)) * hd * 2; }
constexpr unsigned smemDkdv(int hd) { return (2 * BKV + 4 * bt(hd)) * hd * 2 + 4 * bt(hd) * 4; }
const double U = std::ldexp(1.0, -8), F = std::ldexp(1.0, -23);
// attention_wgmma.cu's launch constants (Kernels.java holds the same): 128 queries per block, 3
// warpgroups, 128 keys per tile at hd <= 128 (64 at hd 256), two K/V stages, 9 barriers, 1 KB alignment.
// Any hd that is a multiple of 8 runs at the padded head dim wgPad(hd) (64, 128 or 256).
constexpr int WG_BQ = 128, WG_THREADS = 384;
constexpr int wgPad(int hd) { return hd <= 64 ? 64 : hd <= 128 ? 128 : 256; }
constexpr int wgKeys(int hdp) { return hdp <= 128 ? 128 : 64; }
constexpr unsigned wgSmem(int hdp) { return WG_BQ * hdp * 2 + 2 * 2 * wgKeys(hdp) * hdp * 2 + 8 * 9 + 1024; }
// attention_wgmma_bwd.cu's (FlashAttention.WGMMA_BWD_*): 128 keys per block, 64-query ring stages (2), two
// fp32 dq tiles of 64 x 64, 1 KB of lse/delta a stage, barriers and alignment; at the padded head dim
// wgPad(hd) <= 128 too.
constexpr int WB_BK = 128, WB_BQ = 64, WB_STAGES = 2;
constexpr unsigned wbSmem(int hdp) {
    return 2 * WB_BK * hdp * 2 + 2 * WB_BK * WB_BQ * 2 + 2 * WB_BQ * 64 * 4 + WB_STAGES * (2 * WB_BQ * hdp * 2 + 1024) + 2048;
}
// The tensor map Kernels.attnFwdWgmma builds: rows x hd bf16, boxes of boxRows x 64 with 128B swizzle.
CUtensorMap rowsMap(const uint16_t* p, long long rows, int hd, int boxRows) {
    CUtensorMap m;
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)p, rows, hd, hd * 2, 2, boxRows, 64, CU_TENSOR_MAP_SWIZZLE_128B, &m, err,
                              sizeof err))
        failf("emu_encode_tensor_map: %s", err);
    return m;
}

std::vector<uint16_t> bfRandom(size_t n, float lo, float hi) {
    std::vector<uint16_t> r(n);
    for (auto& x : r) x = bf(uniform(1, lo, hi)[0]);
    return r;
}

// fwdOnly: the forward kernels only (the longer key ranges that wrap attn_fwd_wgmma's K/V ring). The
// mma.sync kernels run at hd 64, 128, 256 only, attn_bwd_wgmma at hd <= 128.
void run(int B, int H, int Nq, int Nk, int hd, bool fwdOnly = false) {
    const int BH = B * H;
    const bool mmaKernels = hd == 64 || hd == 128 || hd == 256;
    const long long ldo = (long long)H * hd + 8;
    const double scale = 1.0 / std::sqrt((double)hd);
    char what[96];
    std::snprintf(what, sizeof what, "B=%d H=%d Nq=%d Nk=%d hd=%d", B, H, Nq, Nk, hd);
    auto q = bfRandom((size_t)BH * Nq * hd, -2, 2), k = bfRandom((size_t)BH * Nk * hd, -2, 2),
         v = bfRandom((size_t)BH * Nk * hd, -1, 1);
    std::vector<uint16_t> dout((size_t)B * Nq * ldo, 0xffff);
    auto qi = [&](int bh, int i, int d) { return ((size_t)bh * Nq + i) * hd + d; };
    auto ki = [&](int bh, int j, int d) { return ((size_t)bh * Nk + j) * hd + d; };
    auto oi = [&](int bh, int i, int d) { return ((size_t)(bh / H) * Nq + i) * ldo + (size_t)(bh % H) * hd + d; };
    for (int bh = 0; bh < BH; bh++)
        for (int i = 0; i < Nq; i++)
            for (int d = 0; d < hd; d++) dout[oi(bh, i, d)] = bf(uniform(1)[0]);

    // float64 reference: P, dS and the bound terms per (bh, i, j)
    const size_t NN = (size_t)BH * Nq * Nk;
    std::vector<double> P(NN), dS(NN), E(NN), e(NN), lse((size_t)BH * Nq), emax((size_t)BH * Nq), delta((size_t)BH * Nq);
    std::vector<double> out((size_t)B * Nq * ldo), outA(out.size());
    for (int bh = 0; bh < BH; bh++)
        for (int i = 0; i < Nq; i++) {
            std::vector<double> s(Nk), sa(Nk);
            double mx = -1e300;
            for (int j = 0; j < Nk; j++) {
                double d = 0, a = 0;
                for (int c = 0; c < hd; c++) {
                    const double x = unbf(q[qi(bh, i, c)]) * unbf(k[ki(bh, j, c)]);
                    d += x;
                    a += std::fabs(x);
                }
                s[j] = d * scale;
                sa[j] = a * scale;
                mx = std::max(mx, s[j]);
            }
            double z = 0;
            for (int j = 0; j < Nk; j++) z += std::exp(s[j] - mx);
            const size_t r = (size_t)bh * Nq + i;
            lse[r] = mx + std::log(z);
            double em = 0;
            for (int j = 0; j < Nk; j++) {
                P[r * Nk + j] = std::exp(s[j] - mx) / z;
                e[r * Nk + j] = (hd + 8) * F * sa[j] + std::ldexp(1.0, -21) * (std::fabs(s[j]) + std::fabs(lse[r]) + 1);
                em = std::max(em, e[r * Nk + j]);
            }
            emax[r] = em;
            double dl = 0;
            for (int c = 0; c < hd; c++) {
                double o = 0, a = 0;
                for (int j = 0; j < Nk; j++) {
                    o += P[r * Nk + j] * unbf(v[ki(bh, j, c)]);
                    a += P[r * Nk + j] * std::fabs(unbf(v[ki(bh, j, c)]));
                }
                out[oi(bh, i, c)] = o;
                outA[oi(bh, i, c)] = a;
                dl += o * unbf(dout[oi(bh, i, c)]);
            }
            delta[r] = dl;
            for (int j = 0; j < Nk; j++) {
                double dp = 0, dpa = 0;
                for (int c = 0; c < hd; c++) {
                    const double x = unbf(dout[oi(bh, i, c)]) * unbf(v[ki(bh, j, c)]);
                    dp += x;
                    dpa += std::fabs(x);
                }
                const size_t n = r * Nk + j;
                dS[n] = P[n] * (dp - dl);
                E[n] = U * std::fabs(dS[n]) + P[n] * (e[n] * std::fabs(dp - dl) + (hd + 8) * F * dpa + F * std::fabs(dl));
            }
        }

    // forward: attn_fwd_bf16, then attention_wgmma.cu's attn_fwd_wgmma (the Hopper kernel, its
    // operands through tensor maps over the (B*H*N, hd) rows) on the same inputs and bounds
    auto checkFwd = [&](const char* kernel, const std::vector<uint16_t>& o, Buf<float>& L) {
        Checker co{std::string(kernel) + " out " + what}, cl{std::string(kernel) + " lse " + what};
        for (int bh = 0; bh < BH; bh++)
            for (int i = 0; i < Nq; i++) {
                const size_t r = (size_t)bh * Nq + i;
                for (int c = 0; c < hd; c++) {
                    const size_t x = oi(bh, i, c);
                    co(x, unbf(o[x]), out[x], (2 * U + 4 * emax[r] + (Nk + 8) * F) * outA[x] + U * std::fabs(out[x]));
                }
                cl(r, L[r], lse[r], 2 * emax[r] + (Nk + 8) * F + std::ldexp(1.0, -20) * (std::fabs(lse[r]) + 1));
            }
        for (size_t x = 0; x < o.size(); x++)
            if ((long long)(x % ldo) >= (long long)H * hd && o[x] != 0xffff) {
                failf("%s %s: padding column %lld written", kernel, what, (long long)(x % ldo));
                break;
            }
    };
    std::vector<uint16_t> o((size_t)B * Nq * ldo, 0xffff);
    Buf<float> L((size_t)BH * Nq);
    if (mmaKernels) {
        launch("attn_fwd_bf16", Dim{(unsigned)BH * cdiv(Nq, BQ)}, Dim{THREADS}, smemFwd(hd), o.data(), ldo, L.p(),
               (const uint16_t*)q.data(), (const uint16_t*)k.data(), (const uint16_t*)v.data(), H, Nq, Nk, hd, (float)scale);
        checkFwd("attn_fwd_bf16", o, L);
    }
    {
        std::vector<uint16_t> ow((size_t)B * Nq * ldo, 0xffff);
        Buf<float> Lw((size_t)BH * Nq);
        const int hdp = wgPad(hd);
        const CUtensorMap mq = rowsMap(q.data(), (long long)BH * Nq, hd, WG_BQ), mk = rowsMap(k.data(), (long long)BH * Nk, hd, wgKeys(hdp)),
                          mv = rowsMap(v.data(), (long long)BH * Nk, hd, wgKeys(hdp));
        launch("attn_fwd_wgmma", Dim{(unsigned)BH * cdiv(Nq, WG_BQ)}, Dim{WG_THREADS}, wgSmem(hdp), ow.data(), ldo, Lw.p(), mq, mk, mv,
               H, Nq, Nk, hd, (float)scale);
        checkFwd("attn_fwd_wgmma", ow, Lw);
        if (!mmaKernels) o = ow;   // the delta kernel's out
    }

    if (fwdOnly) return;

    // delta from the kernel's own out
    Buf<float> dl((size_t)BH * Nq);
    launch("attn_bwd_delta_bf16", Dim{(unsigned)BH * cdiv(Nq, DELTA_ROWS)}, Dim{32 * DELTA_ROWS}, 0u, dl.p(),
           (const uint16_t*)o.data(), (const uint16_t*)dout.data(), ldo, H, Nq, hd);
    {
        Checker cd{std::string("attn_bwd_delta_bf16 ") + what};
        for (int bh = 0; bh < BH; bh++)
            for (int i = 0; i < Nq; i++) {
                double s = 0, a = 0;
                for (int c = 0; c < hd; c++) {
                    const double x = unbf(o[oi(bh, i, c)]) * unbf(dout[oi(bh, i, c)]);
                    s += x;
                    a += std::fabs(x);
                }
                cd((size_t)bh * Nq + i, dl[(size_t)bh * Nq + i], s, (hd + 8) * F * a);
            }
    }

    // backward on float(exact lse, delta)
    Buf<float> lseF((size_t)BH * Nq), deltaF((size_t)BH * Nq);
    for (size_t r = 0; r < lseF.size(); r++) { lseF[r] = (float)lse[r]; deltaF[r] = (float)delta[r]; }
    const auto dq0 = bfRandom(q.size(), -1, 1), dk0 = bfRandom(k.size(), -1, 1), dv0 = bfRandom(v.size(), -1, 1);
    // each backward's gradients (accumulated onto dq0, dk0, dv0) against the float64 ones
    auto checkBwd = [&](const std::string& dqName, const std::string& dkvName, const std::vector<uint16_t>& dq,
                        const std::vector<uint16_t>& dk, const std::vector<uint16_t>& dv) {
        Checker cq{dqName + " " + what}, ck{dkvName + " dk " + what}, cv{dkvName + " dv " + what};
        for (int bh = 0; bh < BH; bh++) {
            for (int i = 0; i < Nq; i++)
                for (int c = 0; c < hd; c++) {
                    double g = 0, tol = 0;
                    for (int j = 0; j < Nk; j++) {
                        const size_t n = ((size_t)bh * Nq + i) * Nk + j;
                        const double kv = unbf(k[ki(bh, j, c)]);
                        g += dS[n] * kv;
                        tol += (2 * E[n] + (Nk + 8) * F * std::fabs(dS[n])) * std::fabs(kv);
                    }
                    const size_t x = qi(bh, i, c);
                    const double w = unbf(dq0[x]) + scale * g;
                    cq(x, unbf(dq[x]), w, scale * tol + U * std::fabs(w));
                }
            for (int j = 0; j < Nk; j++)
                for (int c = 0; c < hd; c++) {
                    double gk = 0, tk = 0, gv = 0, tv = 0;
                    for (int i = 0; i < Nq; i++) {
                        const size_t n = ((size_t)bh * Nq + i) * Nk + j;
                        const double qv = unbf(q[qi(bh, i, c)]), ov = unbf(dout[oi(bh, i, c)]);
                        gk += dS[n] * qv;
                        tk += (2 * E[n] + (Nq + 8) * F * std::fabs(dS[n])) * std::fabs(qv);
                        gv += P[n] * ov;
                        tv += (2 * (U + e[n]) + (Nq + 8) * F) * P[n] * std::fabs(ov);
                    }
                    const size_t x = ki(bh, j, c);
                    const double wk = unbf(dk0[x]) + scale * gk, wv = unbf(dv0[x]) + gv;
                    ck(x, unbf(dk[x]), wk, scale * tk + U * std::fabs(wk));
                    cv(x, unbf(dv[x]), wv, tv + U * std::fabs(wv));
                }
        }
    };
    auto dq = dq0, dk = dk0, dv = dv0;
    if (mmaKernels) {
        launch("attn_bwd_dq_bf16", Dim{(unsigned)BH * cdiv(Nq, BQ)}, Dim{THREADS}, smemDq(hd), dq.data(),
               (const uint16_t*)dout.data(), ldo, (const float*)lseF.p(), (const float*)deltaF.p(), (const uint16_t*)q.data(),
               (const uint16_t*)k.data(), (const uint16_t*)v.data(), H, Nq, Nk, hd, (float)scale);
        launch("attn_bwd_dkdv_bf16", Dim{(unsigned)BH * cdiv(Nk, BKV) * (hd / dc(hd))}, Dim{THREADS}, smemDkdv(hd), dk.data(),
               dv.data(), (const uint16_t*)dout.data(), ldo, (const float*)lseF.p(), (const float*)deltaF.p(),
               (const uint16_t*)q.data(), (const uint16_t*)k.data(), (const uint16_t*)v.data(), H, Nq, Nk, hd, (float)scale);
        checkBwd("attn_bwd_dq_bf16", "attn_bwd_dkdv_bf16", dq, dk, dv);
    }

    // attention_wgmma_bwd.cu's attn_bwd_wgmma (hd <= 128) on the same inputs and bounds: dq through an
    // fp32 scratch that the kernel reduce-adds into by TMA (rows past Nq too: they must add zeros), then
    // attn_bwd_dq_add; dout's box must stay out of its NaN padding
    if (hd > 128) return;
    dq = dq0, dk = dk0, dv = dv0;
    Buf<float> acc(q.size());
    std::fill(acc.v.begin(), acc.v.end(), 0.0f);   // Kernels.flashAttnBwdWgmma zeroes it
    CUtensorMap mdq, mo;
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)acc.p(), (size_t)BH * Nq, hd, hd * 4, 4, WB_BQ, 32,
                              CU_TENSOR_MAP_SWIZZLE_128B, &mdq, err, sizeof err) ||
        emu_encode_tensor_map((unsigned long long)(uintptr_t)dout.data(), (size_t)B * Nq, (size_t)H * hd, ldo * 2, 2, WB_BQ, 64,
                              CU_TENSOR_MAP_SWIZZLE_128B, &mo, err, sizeof err))
        failf("emu_encode_tensor_map: %s", err);
    launch("attn_bwd_wgmma", Dim{(unsigned)BH * cdiv(Nk, WB_BK)}, Dim{WG_THREADS}, wbSmem(wgPad(hd)), rowsMap(q.data(), (long long)BH * Nq, hd, WB_BQ),
           rowsMap(k.data(), (long long)BH * Nk, hd, WB_BK), rowsMap(v.data(), (long long)BH * Nk, hd, WB_BK), mo, mdq, dk.data(),
           dv.data(), (const float*)lseF.p(), (const float*)deltaF.p(), H, Nq, Nk, hd, (float)scale);
    launch("attn_bwd_dq_add", Dim{cdiv((long long)q.size(), 256)}, Dim{256}, 0u, dq.data(), (const float*)acc.p(),
           (long long)q.size(), (float)scale);
    checkBwd("attn_bwd_wgmma dq", "attn_bwd_wgmma", dq, dk, dv);
}

}  // namespace

// Sanitized builds: the same tile edges on fewer rows.
TEST(attention_bf16_hd64) { sanitized() ? run(1, 2, 17, 65, 64) : run(1, 2, 65, 197, 64); }
TEST(attention_bf16_hd64_long_queries) { sanitized() ? run(2, 1, 65, 15, 64) : run(2, 1, 197, 17, 64); }
TEST(attention_bf16_hd128) { sanitized() ? run(1, 2, 15, 33, 128) : run(2, 1, 63, 65, 128); }
TEST(attention_bf16_hd128_single_query) { run(1, 1, 1, 15, 128); }
// attn_bwd_wgmma's 128-key blocks: a block with one key, several query tiles, three heads.
TEST(attention_wgmma_bwd_hd128) { sanitized() ? run(1, 1, 17, 129, 128) : run(1, 3, 65, 129, 128); }
TEST(attention_bf16_hd256) { sanitized() ? run(1, 1, 15, 33, 256) : run(1, 2, 17, 63, 256); }
// attn_fwd_wgmma over several key tiles: the two-stage ring wraps, the last tile is partial and reads
// the next head's rows (or TMA's zeros past the tensor), several 128-query blocks, the last partial.
TEST(attention_wgmma_hd64_ring) { sanitized() ? run(1, 2, 20, 300, 64, true) : run(2, 1, 200, 520, 64, true); }
TEST(attention_wgmma_hd128_ring) { sanitized() ? run(1, 2, 9, 270, 128, true) : run(1, 3, 130, 300, 128, true); }
TEST(attention_wgmma_hd256_ring) { sanitized() ? run(1, 2, 9, 140, 256, true) : run(1, 2, 70, 200, 256, true); }
// Head dims that are not a multiple of 64 on the Hopper kernels (padded, TMA zero fill): ViT-e's 112
// over every tile edge, with four heads (the padded dout boxes of heads 0..2 read the next head's
// columns, the last head's TMA's zeros); 200 (forward at 256, keys over the 64-key tiles);
// 40 and 72 (backward at 64 and 128: dq reduce boxes clipped at hd, and wholly past it skipped).
TEST(attention_wgmma_hd112) { sanitized() ? run(1, 2, 20, 70, 112) : run(2, 2, 130, 150, 112); }
TEST(attention_wgmma_hd200_ring) { sanitized() ? run(1, 2, 9, 70, 200, true) : run(1, 2, 70, 140, 200, true); }
TEST(attention_wgmma_hd40) { sanitized() ? run(1, 2, 17, 33, 40) : run(2, 2, 65, 129, 40); }
TEST(attention_wgmma_hd72) { sanitized() ? run(1, 2, 17, 33, 72) : run(1, 3, 70, 140, 72); }
