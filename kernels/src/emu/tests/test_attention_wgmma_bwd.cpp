// attn_bwd_wgmma (the Hopper TMA + wgmma flash attention backward, attention_wgmma_bwd.cu) and
// attn_bwd_dq_add against float64 of the same bf16 inputs: hd 64 and 128; Nq and Nk on both sides
// of the 64-query tiles and 128-key blocks (a key block with one key, one whose second consumer
// has none; query tiles that run into the next head's rows); B*H > 1; dout a column slice of a
// wider token-major matrix whose padding holds bf16 NaN (a box reaching into it shows); dq, dk, dv
// (bf16) start random and are accumulated onto (an overwrite or a double add fails); dq's fp32
// scratch is reduce-added by TMA, rows past Nq included (they must add zeros). lse and
// delta are float(exact), so the error is the kernel's own. The bounds are those of
// test_attention_bf16.cpp's backward (the same rounding points: P and dS rounded to bf16 as the
// A operand of the second products, fp32 sums, dq's fp32 sum over key blocks in any order):
//   e_ij = (hd+8) 2^-23 scale sum_d |q_id k_jd| + 2^-21 (|s_ij| + |lse_i| + 1)  (P_ij's relative error)
//   E_ij = u |dS_ij| + P_ij (e_ij |dP_ij - delta_i| + (hd+8) 2^-23 sum_d |dout_id v_jd| + 2^-23 |delta_i|)
//   dq: scale sum_j (2 E_ij + (Nk+8) 2^-23 |dS_ij|) |k_jd|,  dk: scale sum_i (2 E_ij + (Nq+8) 2^-23 |dS_ij|) |q_id|
//   dv: sum_i (2 (u + e_ij) + (Nq+8) 2^-23) P_ij |dout_id|;  each plus u |want| (the final rounding).
#include <cuda.h>

#include "harness.h"

using namespace t;

namespace {

// attention_wgmma_bwd.cu's launch constants (FlashAttention.java holds the same).
constexpr int BK = 128, BQ = 64, THREADS = 384, STAGES = 2;
constexpr unsigned smem(int hd) { return 2 * BK * hd * 2 + 2 * BK * BQ * 2 + 2 * BQ * 64 * 4 + STAGES * (2 * BQ * hd * 2 + 1024) + 2048; }
const double U = std::ldexp(1.0, -8), F = std::ldexp(1.0, -23);

std::vector<uint16_t> bfRandom(size_t n, float lo, float hi) {
    std::vector<uint16_t> r(n);
    const std::vector<float> f = uniform(n, lo, hi);
    for (size_t i = 0; i < n; i++) r[i] = bf(f[i]);
    return r;
}

// A bf16 rows x cols matrix (row stride ld elements) in boxes of boxRows x 64, 128B swizzle.
CUtensorMap map(const uint16_t* p, size_t rows, size_t cols, size_t ld, unsigned boxRows) {
    CUtensorMap m;
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)p, rows, cols, ld * 2, 2, boxRows, 64, 3, &m, err, sizeof err))
        failf("emu_encode_tensor_map: %s", err);
    return m;
}

void run(int B, int H, int Nq, int Nk, int hd) {
    const int BH = B * H;
    const long long ldo = (long long)H * hd + 8;
    const double scale = 1.0 / std::sqrt((double)hd);
    char what[96];
    std::snprintf(what, sizeof what, "B=%d H=%d Nq=%d Nk=%d hd=%d", B, H, Nq, Nk, hd);
    auto q = bfRandom((size_t)BH * Nq * hd, -2, 2), k = bfRandom((size_t)BH * Nk * hd, -2, 2),
         v = bfRandom((size_t)BH * Nk * hd, -1, 1);
    std::vector<uint16_t> dout((size_t)B * Nq * ldo, 0xffff);   // padding columns stay NaN
    auto qi = [&](int bh, int i, int d) { return ((size_t)bh * Nq + i) * hd + d; };
    auto ki = [&](int bh, int j, int d) { return ((size_t)bh * Nk + j) * hd + d; };
    auto oi = [&](int bh, int i, int d) { return ((size_t)(bh / H) * Nq + i) * ldo + (size_t)(bh % H) * hd + d; };
    for (int bh = 0; bh < BH; bh++)
        for (int i = 0; i < Nq; i++) {
            const std::vector<float> r = uniform(hd);
            for (int d = 0; d < hd; d++) dout[oi(bh, i, d)] = bf(r[d]);
        }

    // float64 reference: P, dS, and the bound terms e, E per (bh, i, j); lse and delta per row
    const size_t NN = (size_t)BH * Nq * Nk;
    std::vector<double> P(NN), dS(NN), E(NN), e(NN);
    Buf<float> lseF((size_t)BH * Nq), deltaF((size_t)BH * Nq);
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
            const double lse = mx + std::log(z);
            for (int j = 0; j < Nk; j++) {
                P[r * Nk + j] = std::exp(s[j] - mx) / z;
                e[r * Nk + j] = (hd + 8) * F * sa[j] + std::ldexp(1.0, -21) * (std::fabs(s[j]) + std::fabs(lse) + 1);
            }
            double dl = 0;
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j < Nk; j++) o += P[r * Nk + j] * unbf(v[ki(bh, j, c)]);
                dl += o * unbf(dout[oi(bh, i, c)]);
            }
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
            lseF[r] = (float)lse;
            deltaF[r] = (float)dl;
        }

    const auto dq0 = bfRandom(q.size(), -1, 1), dk0 = bfRandom(k.size(), -1, 1), dv0 = bfRandom(v.size(), -1, 1);
    auto dq = dq0, dk = dk0, dv = dv0;
    Buf<float> acc(q.size());
    std::fill(acc.v.begin(), acc.v.end(), 0.0f);   // the host zeroes it (Kernels.flashAttnBwdWgmma)
    const CUtensorMap mq = map(q.data(), (size_t)BH * Nq, hd, hd, BQ), mk = map(k.data(), (size_t)BH * Nk, hd, hd, BK),
                      mv = map(v.data(), (size_t)BH * Nk, hd, hd, BK), mo = map(dout.data(), (size_t)B * Nq, ldo, ldo, BQ);
    CUtensorMap mdq;   // fp32, boxes of BQ x 32 (128 bytes)
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)acc.p(), (size_t)BH * Nq, hd, hd * 4, 4, BQ, 32, 3, &mdq, err, sizeof err))
        failf("emu_encode_tensor_map: %s", err);
    launch("attn_bwd_wgmma", Dim{(unsigned)BH * cdiv(Nk, BK)}, Dim{THREADS}, smem(hd), mq, mk, mv, mo, mdq, dk.data(),
           dv.data(), (const float*)lseF.p(), (const float*)deltaF.p(), H, Nq, Nk, hd, (float)scale);
    launch("attn_bwd_dq_add", Dim{cdiv((long long)q.size(), 256)}, Dim{256}, 0u, dq.data(), (const float*)acc.p(),
           (long long)q.size(), (float)scale);

    Checker cq{std::string("attn_bwd_wgmma dq ") + what}, ck{std::string("attn_bwd_wgmma dk ") + what},
        cv{std::string("attn_bwd_wgmma dv ") + what};
    for (int bh = 0; bh < BH; bh++) {
        for (int i = 0; i < Nq; i++)
            for (int c = 0; c < hd; c++) {
                double gq = 0, tol = 0;
                for (int j = 0; j < Nk; j++) {
                    const size_t n = ((size_t)bh * Nq + i) * Nk + j;
                    const double kv = unbf(k[ki(bh, j, c)]);
                    gq += dS[n] * kv;
                    tol += (2 * E[n] + (Nk + 8) * F * std::fabs(dS[n])) * std::fabs(kv);
                }
                const size_t x = qi(bh, i, c);
                const double want = unbf(dq0[x]) + scale * gq;
                cq(x, unbf(dq[x]), want, scale * tol + U * std::fabs(want));
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
}

}  // namespace

// Sanitized builds: the same tile edges on fewer blocks.
TEST(attention_wgmma_bwd_hd64) { sanitized() ? run(1, 2, 65, 129, 64) : run(2, 2, 130, 200, 64); }
TEST(attention_wgmma_bwd_hd128) { sanitized() ? run(1, 1, 17, 70, 128) : run(1, 3, 65, 129, 128); }
TEST(attention_wgmma_bwd_hd128_single_query) { run(2, 1, 1, 15, 128); }
