// attn_fwd, attn_bwd_delta, attn_bwd_dq, attn_bwd_dkdv against a naive float64 softmax attention:
// Nq != Nk, neither a multiple of the 32-key tile nor of the 8 rows per block, hd not a power of
// two (below and above one warp's 32 columns), out / dout as column slices (ldo > H*hd), dq, dk,
// dv accumulated onto random values. Their bf16 instantiations (attn_fwd_simt_bf16,
// attn_bwd_delta_bf16, attn_bwd_dq_simt_bf16, attn_bwd_dkdv_simt_bf16) the same way on
// bf16-valued inputs: the fp32 bounds plus 2^-8 |want| (one RNE rounding of each stored element,
// half that, doubled to spare).
#include "harness.h"

using namespace t;

namespace {

constexpr int ROWS = 8, TILE = 32;

struct Attn {
    int B, H, Nq, Nk, hd;
    long long ldo;
    double scale;
    std::vector<float> q, k, v, dout;
    // reference
    std::vector<double> P, out, lse, delta, dq, dk, dv;
    size_t qi(int bh, int i, int d) const { return ((size_t)bh * Nq + i) * hd + d; }
    size_t ki(int bh, int j, int d) const { return ((size_t)bh * Nk + j) * hd + d; }
    size_t oi(int bh, int i, int d) const { return ((size_t)(bh / H) * Nq + i) * ldo + (size_t)(bh % H) * hd + d; }

    // bf16: inputs rounded to bf16 values (the reference is then that of the bf16 kernels' inputs)
    Attn(int B_, int H_, int Nq_, int Nk_, int hd_, bool bf16 = false) : B(B_), H(H_), Nq(Nq_), Nk(Nk_), hd(hd_) {
        ldo = (long long)H * hd + 5;
        scale = 1.0 / std::sqrt((double)hd);
        q = uniform((size_t)B * H * Nq * hd, -2, 2);
        k = uniform((size_t)B * H * Nk * hd, -2, 2);
        v = uniform((size_t)B * H * Nk * hd);
        dout = uniform((size_t)B * Nq * ldo);
        if (bf16)
            for (auto* x : {&q, &k, &v, &dout})
                for (float& f : *x) f = (float)bf16_round(f);
        reference();
    }

    void reference() {
        const int BH = B * H;
        P.assign((size_t)BH * Nq * Nk, 0);
        out.assign((size_t)B * Nq * ldo, 0);
        lse.assign((size_t)BH * Nq, 0);
        delta.assign((size_t)BH * Nq, 0);
        dq.assign(q.size(), 0);
        dk.assign(k.size(), 0);
        dv.assign(v.size(), 0);
        for (int bh = 0; bh < BH; bh++)
            for (int i = 0; i < Nq; i++) {
                std::vector<double> s(Nk);
                double mx = -1e300;
                for (int j = 0; j < Nk; j++) {
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)q[qi(bh, i, c)] * k[ki(bh, j, c)];
                    s[j] = d * scale;
                    mx = std::max(mx, s[j]);
                }
                double z = 0;
                for (int j = 0; j < Nk; j++) z += std::exp(s[j] - mx);
                lse[(size_t)bh * Nq + i] = mx + std::log(z);
                for (int j = 0; j < Nk; j++) P[((size_t)bh * Nq + i) * Nk + j] = std::exp(s[j] - mx) / z;
                for (int c = 0; c < hd; c++) {
                    double o = 0;
                    for (int j = 0; j < Nk; j++) o += P[((size_t)bh * Nq + i) * Nk + j] * v[ki(bh, j, c)];
                    out[oi(bh, i, c)] = o;
                }
                double dl = 0;
                for (int c = 0; c < hd; c++) dl += (double)(float)out[oi(bh, i, c)] * dout[oi(bh, i, c)];
                delta[(size_t)bh * Nq + i] = dl;
            }
        for (int bh = 0; bh < BH; bh++)
            for (int i = 0; i < Nq; i++)
                for (int j = 0; j < Nk; j++) {
                    double p = P[((size_t)bh * Nq + i) * Nk + j], dp = 0;
                    for (int c = 0; c < hd; c++) dp += (double)dout[oi(bh, i, c)] * v[ki(bh, j, c)];
                    double ds = p * (dp - delta[(size_t)bh * Nq + i]);
                    for (int c = 0; c < hd; c++) {
                        dq[qi(bh, i, c)] += scale * ds * k[ki(bh, j, c)];
                        dk[ki(bh, j, c)] += scale * ds * q[qi(bh, i, c)];
                        dv[ki(bh, j, c)] += p * dout[oi(bh, i, c)];
                    }
                }
    }
};

void run(int B, int H, int Nq, int Nk, int hd) {
    Attn a(B, H, Nq, Nk, hd);
    char what[96];
    std::snprintf(what, sizeof what, "B=%d H=%d Nq=%d Nk=%d hd=%d", B, H, Nq, Nk, hd);
    const unsigned BH = B * H;
    const float scale = (float)a.scale;
    Buf<float> q = buf(a.q), k = buf(a.k), v = buf(a.v), dout = buf(a.dout);
    // forward: out is a column slice, the padding columns must keep their NaN bytes
    Buf<float> out((size_t)B * Nq * a.ldo), lse((size_t)BH * Nq);
    unsigned smem = (2 * TILE * (hd + 1) + ROWS * hd) * 4;
    // grid.x = B*H * row tiles (one flat dimension: attention.cu)
    launch("attn_fwd", Dim{BH * cdiv(Nq, ROWS)}, Dim{32 * ROWS}, smem, out.p(), a.ldo, lse.p(), (const float*)q.p(),
           (const float*)k.p(), (const float*)v.p(), H, Nq, Nk, hd, scale);
    std::vector<float> got;
    std::vector<double> want;
    for (size_t i = 0; i < out.size(); i++) {
        size_t col = i % a.ldo;
        if (col >= (size_t)H * hd) {
            if (!std::isnan(out[i])) failf("attn_fwd %s: padding column written", what);
            continue;
        }
        got.push_back(out[i]);
        want.push_back(a.out[i]);
    }
    close((std::string("attn_fwd out ") + what).c_str(), got, want, 2e-5, 1e-4);
    close((std::string("attn_fwd lse ") + what).c_str(), lse.v, a.lse, 2e-5, 1e-5);

    // delta from the kernel's own out (its value is what the backward consumes)
    Buf<float> delta((size_t)BH * Nq);
    launch("attn_bwd_delta", Dim{BH * cdiv(Nq, ROWS)}, Dim{32 * ROWS}, 0u, delta.p(), (const float*)out.p(),
           (const float*)dout.p(), a.ldo, H, Nq, hd);
    close((std::string("attn_bwd_delta ") + what).c_str(), delta.v, a.delta, 1e-4, 1e-4);

    // dq, dk, dv accumulate (+=) into what is there: start from random values
    auto dq0 = uniform(a.q.size()), dk0 = uniform(a.k.size()), dv0 = uniform(a.v.size());
    Buf<float> dq = buf(dq0), dk = buf(dk0), dv = buf(dv0);
    Buf<float> lseRef((size_t)BH * Nq), deltaRef((size_t)BH * Nq);
    for (size_t i = 0; i < lseRef.size(); i++) { lseRef[i] = (float)a.lse[i]; deltaRef[i] = (float)a.delta[i]; }
    unsigned smemDq = (2 * TILE * (hd + 1) + 2 * ROWS * hd) * 4;
    launch("attn_bwd_dq", Dim{BH * cdiv(Nq, ROWS)}, Dim{32 * ROWS}, smemDq, dq.p(), (const float*)dout.p(), a.ldo,
           (const float*)lseRef.p(), (const float*)deltaRef.p(), (const float*)q.p(), (const float*)k.p(),
           (const float*)v.p(), H, Nq, Nk, hd, scale);
    unsigned smemKv = (2 * TILE * (hd + 1) + 2 * TILE + 2 * ROWS * hd) * 4;
    launch("attn_bwd_dkdv", Dim{BH * cdiv(Nk, ROWS)}, Dim{32 * ROWS}, smemKv, dk.p(), dv.p(), (const float*)dout.p(), a.ldo,
           (const float*)lseRef.p(), (const float*)deltaRef.p(), (const float*)q.p(), (const float*)k.p(),
           (const float*)v.p(), H, Nq, Nk, hd, scale);
    std::vector<double> wq(a.dq), wk(a.dk), wv(a.dv);
    for (size_t i = 0; i < wq.size(); i++) wq[i] += dq0[i];
    for (size_t i = 0; i < wk.size(); i++) { wk[i] += dk0[i]; wv[i] += dv0[i]; }
    close((std::string("attn_bwd_dq ") + what).c_str(), dq.v, wq, 1e-4, 1e-4);
    close((std::string("attn_bwd_dkdv dk ") + what).c_str(), dk.v, wk, 1e-4, 1e-4);
    close((std::string("attn_bwd_dkdv dv ") + what).c_str(), dv.v, wv, 1e-4, 1e-4);
}

std::vector<uint16_t> toBf(const std::vector<float>& x) {
    std::vector<uint16_t> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = bf(x[i]);   // exact: x holds bf16 values
    return r;
}
std::vector<float> widen(const std::vector<uint16_t>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = (float)unbf(x[i]);
    return r;
}

// The bf16 instantiations: same launches, bf16 storage; out's padding and the outputs start as
// bf16 NaN (0xffff), dq, dk, dv as random bf16 values they accumulate onto.
void runBf16(int B, int H, int Nq, int Nk, int hd) {
    Attn a(B, H, Nq, Nk, hd, true);
    char what[96];
    std::snprintf(what, sizeof what, "B=%d H=%d Nq=%d Nk=%d hd=%d", B, H, Nq, Nk, hd);
    const unsigned BH = B * H;
    const float scale = (float)a.scale;
    const double U = std::ldexp(1.0, -8);
    auto q = toBf(a.q), k = toBf(a.k), v = toBf(a.v), dout = toBf(a.dout);
    std::vector<uint16_t> out((size_t)B * Nq * a.ldo, 0xffff);
    Buf<float> lse((size_t)BH * Nq);
    unsigned smem = (2 * TILE * (hd + 1) + ROWS * hd) * 4;
    launch("attn_fwd_simt_bf16", Dim{BH * cdiv(Nq, ROWS)}, Dim{32 * ROWS}, smem, out.data(), a.ldo, lse.p(),
           (const uint16_t*)q.data(), (const uint16_t*)k.data(), (const uint16_t*)v.data(), H, Nq, Nk, hd, scale);
    std::vector<float> got;
    std::vector<double> want;
    for (size_t i = 0; i < out.size(); i++) {
        if (i % a.ldo >= (size_t)H * hd) {
            if (out[i] != 0xffff) failf("attn_fwd_simt_bf16 %s: padding column written", what);
            continue;
        }
        got.push_back((float)unbf(out[i]));
        want.push_back(a.out[i]);
    }
    close((std::string("attn_fwd_simt_bf16 out ") + what).c_str(), got, want, 2e-5, 1e-4 + U);
    close((std::string("attn_fwd_simt_bf16 lse ") + what).c_str(), lse.v, a.lse, 2e-5, 1e-5);

    // delta from the kernel's own (bf16) out
    Buf<float> delta((size_t)BH * Nq);
    launch("attn_bwd_delta_bf16", Dim{BH * cdiv(Nq, ROWS)}, Dim{32 * ROWS}, 0u, delta.p(), (const uint16_t*)out.data(),
           (const uint16_t*)dout.data(), a.ldo, H, Nq, hd);
    std::vector<double> wd((size_t)BH * Nq);
    for (unsigned bh = 0; bh < BH; bh++)
        for (int i = 0; i < Nq; i++)
            for (int c = 0; c < hd; c++) wd[(size_t)bh * Nq + i] += unbf(out[a.oi(bh, i, c)]) * (double)a.dout[a.oi(bh, i, c)];
    close((std::string("attn_bwd_delta_bf16 ") + what).c_str(), delta.v, wd, 1e-4, 1e-4);

    auto dq0 = toBf(uniform(a.q.size())), dk0 = toBf(uniform(a.k.size())), dv0 = toBf(uniform(a.v.size()));
    auto dq = dq0, dk = dk0, dv = dv0;
    Buf<float> lseRef((size_t)BH * Nq), deltaRef((size_t)BH * Nq);
    for (size_t i = 0; i < lseRef.size(); i++) { lseRef[i] = (float)a.lse[i]; deltaRef[i] = (float)a.delta[i]; }
    unsigned smemDq = (2 * TILE * (hd + 1) + 2 * ROWS * hd) * 4;
    launch("attn_bwd_dq_simt_bf16", Dim{BH * cdiv(Nq, ROWS)}, Dim{32 * ROWS}, smemDq, dq.data(),
           (const uint16_t*)dout.data(), a.ldo, (const float*)lseRef.p(), (const float*)deltaRef.p(),
           (const uint16_t*)q.data(), (const uint16_t*)k.data(), (const uint16_t*)v.data(), H, Nq, Nk, hd, scale);
    unsigned smemKv = (2 * TILE * (hd + 1) + 2 * TILE + 2 * ROWS * hd) * 4;
    launch("attn_bwd_dkdv_simt_bf16", Dim{BH * cdiv(Nk, ROWS)}, Dim{32 * ROWS}, smemKv, dk.data(), dv.data(),
           (const uint16_t*)dout.data(), a.ldo, (const float*)lseRef.p(), (const float*)deltaRef.p(),
           (const uint16_t*)q.data(), (const uint16_t*)k.data(), (const uint16_t*)v.data(), H, Nq, Nk, hd, scale);
    std::vector<double> wq(a.dq), wk(a.dk), wv(a.dv);
    for (size_t i = 0; i < wq.size(); i++) wq[i] += unbf(dq0[i]);
    for (size_t i = 0; i < wk.size(); i++) { wk[i] += unbf(dk0[i]); wv[i] += unbf(dv0[i]); }
    close((std::string("attn_bwd_dq_simt_bf16 ") + what).c_str(), widen(dq), wq, 1e-4, 1e-4 + U);
    close((std::string("attn_bwd_dkdv_simt_bf16 dk ") + what).c_str(), widen(dk), wk, 1e-4, 1e-4 + U);
    close((std::string("attn_bwd_dkdv_simt_bf16 dv ") + what).c_str(), widen(dv), wv, 1e-4, 1e-4 + U);
}

}  // namespace

TEST(attention_hd40_nq_ne_nk) { run(1, sanitized() ? 1 : 2, 37, 45, 40); }
TEST(attention_hd24_more_queries) { run(sanitized() ? 1 : 2, 1, 41, 33, 24); }
TEST(attention_bf16_simt_hd16_nq_ne_nk) { runBf16(sanitized() ? 1 : 2, 2, 37, 45, 16); }
TEST(attention_bf16_simt_hd40_more_queries) { runBf16(1, sanitized() ? 1 : 2, 41, 33, 40); }
