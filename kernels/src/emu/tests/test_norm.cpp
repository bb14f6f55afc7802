// norm_fwd, norm_bwd_dx, norm_bwd_params, qknorm_fwd, qknorm_bwd against float64 references:
// widths across the 256-thread block and the 32-column tiles, RMS and centered, with and without
// bias, hd not a power of two, q/k/v as column slices of a wider pre-activation. QK-norm also in
// bf16 (qknorm_*_bf16: the same reference on bf16-valued inputs, outputs within their rounding).
#include "harness.h"

using namespace t;

namespace {

struct Stats { double mean, rstd; };
Stats stats_of(const float* x, int W, bool centered, double eps) {
    double m = 0;
    if (centered) {
        for (int i = 0; i < W; i++) m += x[i];
        m /= W;
    }
    double ss = 0;
    for (int i = 0; i < W; i++) ss += (x[i] - m) * (x[i] - m);
    return {m, 1.0 / std::sqrt(ss / W + eps)};
}

void run_norm(int R, int W, int centered, bool bias) {
    char what[64];
    std::snprintf(what, sizeof what, "R=%d W=%d centered=%d bias=%d", R, W, centered, bias);
    const float eps = 1e-6f;
    auto x = uniform((size_t)R * W, -2, 3), sc = uniform(W), bi = uniform(W), dout = uniform((size_t)R * W);
    Buf<float> X = buf(x), S = buf(sc), Bi = buf(bi), Out((size_t)R * W), St((size_t)R * 2);
    launch("norm_fwd", Dim{(unsigned)R}, Dim{256}, 0u, Out.p(), St.p(), (const float*)X.p(), (const float*)S.p(),
           bias ? (const float*)Bi.p() : (const float*)nullptr, W, centered, eps);
    std::vector<double> out((size_t)R * W), st((size_t)R * 2), dx((size_t)R * W), ds(W, 0), db(W, 0);
    auto dx0 = uniform((size_t)R * W);
    for (int r = 0; r < R; r++) {
        Stats s = stats_of(&x[(size_t)r * W], W, centered, eps);
        st[2 * r] = s.mean;
        st[2 * r + 1] = s.rstd;
        double mg = 0, mgx = 0;
        for (int i = 0; i < W; i++) {
            double xh = (x[(size_t)r * W + i] - s.mean) * s.rstd, g = dout[(size_t)r * W + i] * sc[i];
            out[(size_t)r * W + i] = xh * sc[i] + (bias ? bi[i] : 0.0);
            mg += g / W;
            mgx += g * xh / W;
            ds[i] += dout[(size_t)r * W + i] * xh;
            db[i] += dout[(size_t)r * W + i];
        }
        for (int i = 0; i < W; i++) {
            double xh = (x[(size_t)r * W + i] - s.mean) * s.rstd, g = dout[(size_t)r * W + i] * sc[i];
            dx[(size_t)r * W + i] = dx0[(size_t)r * W + i] + s.rstd * (g - (centered ? mg : 0.0) - xh * mgx);
        }
    }
    close((std::string("norm_fwd out ") + what).c_str(), Out.v, out, 1e-5, 1e-5);
    close((std::string("norm_fwd stats ") + what).c_str(), St.v, st, 1e-6, 1e-5);
    // backward from the reference stats, so each kernel is checked on its own
    Buf<float> Sr((size_t)R * 2), Dout = buf(dout), Dx = buf(dx0);
    for (size_t i = 0; i < st.size(); i++) Sr[i] = (float)st[i];
    launch("norm_bwd_dx", Dim{(unsigned)R}, Dim{256}, 0u, Dx.p(), (const float*)Dout.p(), (const float*)X.p(),
           (const float*)S.p(), (const float*)Sr.p(), W, centered);
    close((std::string("norm_bwd_dx ") + what).c_str(), Dx.v, dx, 1e-4, 1e-4);
    auto ds0 = uniform(W), db0 = uniform(W);
    Buf<float> Ds = buf(ds0), Db = buf(db0);
    const unsigned chunks = 2;   // 16 rows per grid stride, fewer than R: each thread loops
    launch("norm_bwd_params", Dim{cdiv(W, 32), chunks}, Dim{32, 8}, 0u, Ds.p(), bias ? Db.p() : (float*)nullptr,
           (const float*)Dout.p(), (const float*)X.p(), (const float*)Sr.p(), R, W);
    for (int i = 0; i < W; i++) { ds[i] += ds0[i]; db[i] = bias ? db[i] + db0[i] : db0[i]; }
    close((std::string("norm_bwd_params dscale ") + what).c_str(), Ds.v, ds, 1e-4, 1e-4);
    close((std::string("norm_bwd_params dbias ") + what).c_str(), Db.v, db, 1e-4, 1e-4);
}

// A qknorm operand in the kernel's storage type: float, or bf16 bits (bf16: the _bf16 kernels,
// whose inputs the caller has rounded to bf16 values, so one float64 reference serves both).
struct Op {
    bool bf;
    Buf<float> f;
    Buf<uint16_t> h;
    Op(const std::vector<float>& v, bool bf16) : bf(bf16), f(bf16 ? 0 : v.size()), h(bf16 ? v.size() : 0) {
        for (size_t i = 0; i < v.size(); i++)
            if (bf) h[i] = t::bf(v[i]);
            else f[i] = v[i];
    }
    Op(size_t n, bool bf16) : bf(bf16), f(bf16 ? 0 : n), h(bf16 ? n : 0) {}   // NaN-filled output
    void* p() { return bf ? (void*)h.p() : (void*)f.p(); }
    size_t size() const { return bf ? h.size() : f.size(); }
    std::vector<float> values() {
        std::vector<float> out(size());
        for (size_t i = 0; i < out.size(); i++) out[i] = bf ? (float)unbf(h[i]) : f[i];
        return out;
    }
};

void run_qknorm(int B, int N, int H, int hd, int centered, bool bf16 = false) {
    char what[80];
    std::snprintf(what, sizeof what, "B=%d N=%d H=%d hd=%d centered=%d%s", B, N, H, hd, centered, bf16 ? " bf16" : "");
    const int D = H * hd, colQ = 5, T = B * N;
    const long long ld = colQ + 3 * D + 7;
    const float eps = 1e-6f;
    const double u = bf16 ? 1.0 / 256 : 0.0;   // a bf16 output's own rounding
    auto bfv = [&](std::vector<float> v) {     // inputs as bf16 values in the bf16 run
        if (bf16) for (float& x : v) x = (float)unbf(bf(x));
        return v;
    };
    auto pre = bfv(uniform((size_t)T * ld, -2, 2)), qs = bfv(uniform(hd)), ks = bfv(uniform(hd));
    const size_t HM = (size_t)B * H * N * hd;
    Op Pre(pre, bf16), Qs(qs, bf16), Ks(ks, bf16), Q(HM, bf16), K(HM, bf16), V(HM, bf16);
    Buf<float> St((size_t)2 * B * H * N * 2);
    const unsigned rows = T * H;
    launch(bf16 ? "qknorm_fwd_bf16" : "qknorm_fwd", Dim{cdiv(rows, 8)}, Dim{256}, 0u, (const void*)Pre.p(), ld, colQ,
           (const void*)Qs.p(), (const void*)Ks.p(), Q.p(), K.p(), V.p(), St.p(), B, N, H, hd, centered, eps);
    std::vector<double> q(HM), k(HM), v(HM), st(St.size());
    auto dq = bfv(uniform(HM)), dk = bfv(uniform(HM)), dv = bfv(uniform(HM));
    std::vector<double> dpre(pre.size()), dqs(hd, 0), dks(hd, 0);
    for (size_t i = 0; i < dpre.size(); i++) dpre[i] = NAN;   // columns the kernel must not write
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                const size_t t = (size_t)b * N + n, hm = (((size_t)b * H + h) * N + n) * hd;
                for (int which = 0; which < 2; which++) {
                    const float* src = &pre[t * ld + colQ + which * D + h * hd];
                    Stats s = stats_of(src, hd, centered, eps);
                    size_t si = ((size_t)which * B * H * N + ((size_t)b * H + h) * N + n) * 2;
                    st[si] = s.mean;
                    st[si + 1] = s.rstd;
                    const std::vector<float>& sc = which ? ks : qs;
                    const std::vector<float>& dn = which ? dk : dq;
                    double mg = 0, mgx = 0;
                    for (int d = 0; d < hd; d++) {
                        double xh = (src[d] - s.mean) * s.rstd;
                        (which ? k : q)[hm + d] = xh * sc[d];
                        double g = dn[hm + d] * sc[d];
                        mg += g / hd;
                        mgx += g * xh / hd;
                        (which ? dks : dqs)[d] += dn[hm + d] * xh;
                    }
                    for (int d = 0; d < hd; d++) {
                        double xh = (src[d] - s.mean) * s.rstd, g = dn[hm + d] * sc[d];
                        dpre[t * ld + colQ + which * D + h * hd + d] = s.rstd * (g - (centered ? mg : 0.0) - xh * mgx);
                    }
                }
                for (int d = 0; d < hd; d++) {
                    v[hm + d] = pre[t * ld + colQ + 2 * D + h * hd + d];
                    dpre[t * ld + colQ + 2 * D + h * hd + d] = dv[hm + d];
                }
            }
    close((std::string("qknorm_fwd q ") + what).c_str(), Q.values(), q, 1e-5, 1e-5 + u);
    close((std::string("qknorm_fwd k ") + what).c_str(), K.values(), k, 1e-5, 1e-5 + u);
    close((std::string("qknorm_fwd v ") + what).c_str(), V.values(), v, 0, 0);
    close((std::string("qknorm_fwd stats ") + what).c_str(), St.v, st, 1e-6, 1e-5);

    Buf<float> Sr(St.size());
    Op Dq(dq, bf16), Dk(dk, bf16), Dv(dv, bf16), Dpre(pre.size(), bf16);
    for (size_t i = 0; i < st.size(); i++) Sr[i] = (float)st[i];
    auto dqs0 = uniform(hd), dks0 = uniform(hd);
    Buf<float> Dqs = buf(dqs0), Dks = buf(dks0);
    launch(bf16 ? "qknorm_bwd_bf16" : "qknorm_bwd", Dim{cdiv(rows, 8)}, Dim{256}, 0u, Dpre.p(), ld, colQ, (const void*)Pre.p(),
           (const void*)Dq.p(), (const void*)Dk.p(), (const void*)Dv.p(), (const void*)Qs.p(), (const void*)Ks.p(),
           (const float*)Sr.p(), Dqs.p(), Dks.p(), B, N, H, hd, centered);
    std::vector<float> got, dp = Dpre.values();
    std::vector<double> want;
    for (size_t i = 0; i < dpre.size(); i++) {
        if (std::isnan(dpre[i])) {
            if (!std::isnan(dp[i])) failf("qknorm_bwd %s: dpre[%zu] outside q/k/v written", what, i);
            continue;
        }
        got.push_back(dp[i]);
        want.push_back(dpre[i]);
    }
    close((std::string("qknorm_bwd dpre ") + what).c_str(), got, want, 1e-4, 1e-4 + u);
    for (int d = 0; d < hd; d++) { dqs[d] += dqs0[d]; dks[d] += dks0[d]; }
    close((std::string("qknorm_bwd dqScale ") + what).c_str(), Dqs.v, dqs, 1e-4, 1e-4);
    close((std::string("qknorm_bwd dkScale ") + what).c_str(), Dks.v, dks, 1e-4, 1e-4);
}

}  // namespace

TEST(norm_rms_wide) { run_norm(5, 300, 0, false); }
TEST(norm_centered_bias) { run_norm(sanitized() ? 19 : 37, 70, 1, true); }
TEST(norm_narrow) { run_norm(9, 17, 1, false); }
TEST(qknorm_hd40_rms) { run_qknorm(2, 5, 3, 40, 0); }
TEST(qknorm_hd24_centered) { run_qknorm(1, 7, 2, 24, 1); }
TEST(qknorm_bf16_hd40_centered) { run_qknorm(2, 3, 3, 40, 1, true); }
