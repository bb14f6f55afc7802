// norm_fwd, norm_bwd_dx, norm_bwd_params, qknorm_fwd, qknorm_bwd against float64 references:
// widths across the 256-thread block and the 32-column tiles, RMS and centered, with and without
// bias, hd not a power of two, q/k/v as column slices of a wider pre-activation.
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

void run_qknorm(int B, int N, int H, int hd, int centered) {
    char what[64];
    std::snprintf(what, sizeof what, "B=%d N=%d H=%d hd=%d centered=%d", B, N, H, hd, centered);
    const int D = H * hd, colQ = 5, T = B * N;
    const long long ld = colQ + 3 * D + 7;
    const float eps = 1e-6f;
    auto pre = uniform((size_t)T * ld, -2, 2), qs = uniform(hd), ks = uniform(hd);
    const size_t HM = (size_t)B * H * N * hd;
    Buf<float> Pre = buf(pre), Qs = buf(qs), Ks = buf(ks), Q(HM), K(HM), V(HM), St((size_t)2 * B * H * N * 2);
    const unsigned rows = T * H;
    launch("qknorm_fwd", Dim{cdiv(rows, 8)}, Dim{256}, 0u, (const float*)Pre.p(), ld, colQ, (const float*)Qs.p(),
           (const float*)Ks.p(), Q.p(), K.p(), V.p(), St.p(), B, N, H, hd, centered, eps);
    std::vector<double> q(HM), k(HM), v(HM), st(St.size());
    auto dq = uniform(HM), dk = uniform(HM), dv = uniform(HM);
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
    close((std::string("qknorm_fwd q ") + what).c_str(), Q.v, q, 1e-5, 1e-5);
    close((std::string("qknorm_fwd k ") + what).c_str(), K.v, k, 1e-5, 1e-5);
    close((std::string("qknorm_fwd v ") + what).c_str(), V.v, v, 0, 0);
    close((std::string("qknorm_fwd stats ") + what).c_str(), St.v, st, 1e-6, 1e-5);

    Buf<float> Sr(St.size()), Dq = buf(dq), Dk = buf(dk), Dv = buf(dv), Dpre(pre.size());
    for (size_t i = 0; i < st.size(); i++) Sr[i] = (float)st[i];
    auto dqs0 = uniform(hd), dks0 = uniform(hd);
    Buf<float> Dqs = buf(dqs0), Dks = buf(dks0);
    launch("qknorm_bwd", Dim{cdiv(rows, 8)}, Dim{256}, 0u, Dpre.p(), ld, colQ, (const float*)Pre.p(), (const float*)Dq.p(),
           (const float*)Dk.p(), (const float*)Dv.p(), (const float*)Qs.p(), (const float*)Ks.p(), (const float*)Sr.p(),
           Dqs.p(), Dks.p(), B, N, H, hd, centered);
    std::vector<float> got;
    std::vector<double> want;
    for (size_t i = 0; i < dpre.size(); i++) {
        if (std::isnan(dpre[i])) {
            if (!std::isnan(Dpre[i])) failf("qknorm_bwd %s: dpre[%zu] outside q/k/v written", what, i);
            continue;
        }
        got.push_back(Dpre[i]);
        want.push_back(dpre[i]);
    }
    close((std::string("qknorm_bwd dpre ") + what).c_str(), got, want, 1e-4, 1e-4);
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
