// The bf16 instantiations of misc.cu's and norm.cu's templated kernels against float64 references
// computed from the same bf16 inputs. A bf16 output is the fp32 result rounded once to nearest
// even, so it must lie within 2^-8 |want| (half a bf16 ulp) plus the fp32 arithmetic's own error;
// a truncating store (up to a whole ulp) or a second rounding fails. fp32 outputs (statistics,
// parameter gradients, the loss) are held to fp32 accuracy. Each element-wise kernel runs twice:
// on 16-byte aligned buffers (the 8-wide vector path, n not a multiple of 8: a scalar tail) and one
// element off (every pointer misaligned: the scalar path). Unwritten bf16 elements hold NaN.
#include <algorithm>

#include "harness.h"

using namespace t;

namespace {
constexpr double U = 1.0 / 256;   // 2^-8: one round to nearest in bf16
const Dim small_grid{3}, blk{256};

// bf16 operands: the values (float64) and their bits, with `pad` leading elements so the data
// starts `pad` elements past a 16-byte boundary.
struct B16 {
    std::vector<double> x;
    Buf<uint16_t> b;
    int pad;
    B16(const std::vector<float>& v, int pad_) : x(v.size()), b(v.size() + 8), pad(pad_) {
        for (size_t i = 0; i < v.size(); i++) { b[pad + i] = bf(v[i]); x[i] = unbf(b[pad + i]); }
    }
    explicit B16(size_t n, int pad_) : x(n, 0), b(n + 8), pad(pad_) {}   // output: NaN bits
    uint16_t* p() { return b.p() + pad; }
    const uint16_t* c() { return b.p() + pad; }
    double at(size_t i) { return unbf(b[pad + i]); }
};

// got (bf16) against want: one rounding of an fp32 result (relative error rel of the fp32 math)
void check_bf16(const char* what, B16& got, const std::vector<double>& want, double rel = 1e-6, double abs = 1e-30) {
    Checker c{what};
    for (size_t i = 0; i < want.size(); i++) c(i, got.at(i), want[i], (U + rel) * std::fabs(want[i]) + abs);
}

void elementwise(int pad) {
    const long long n = 1003;   // 125 vectors and a tail of 3
    char w[64];
    auto name = [&](const char* k) { std::snprintf(w, sizeof w, "%s (pad %d)", k, pad); return w; };
    B16 A(uniform(n), pad), S(uniform(n), pad);
    std::vector<double> want(n);
    for (long long i = 0; i < n; i++) want[i] = A.x[i] + S.x[i];
    launch("add_bf16", small_grid, blk, 0u, A.p(), S.c(), n);
    check_bf16(name("add_bf16"), A, want);
    for (long long i = 0; i < n - 1; i++) want[i] = A.at(i) * 0.37f;
    want[n - 1] = A.at(n - 1);
    launch("scale_bf16", small_grid, blk, 0u, A.p(), 0.37f, n - 1);   // the last element stays
    check_bf16(name("scale_bf16"), A, want);
    for (int kind = 0; kind < 2; kind++) {
        B16 X(uniform(n, -5, 5), pad), D(uniform(n), pad), Din(uniform(n), pad), Out((size_t)n, pad);
        launch("gelu_fwd_bf16", small_grid, blk, 0u, Out.p(), X.c(), n, kind);
        launch("gelu_bwd_bf16", small_grid, blk, 0u, Din.p(), D.c(), X.c(), n, kind);
        std::vector<double> y(n), g(n);
        for (long long i = 0; i < n; i++) {
            y[i] = gelu_ref(X.x[i], kind);
            g[i] = Din.x[i] + D.x[i] * gelu_grad_ref(X.x[i], kind);
        }
        check_bf16(name(kind ? "gelu_fwd_bf16 exact" : "gelu_fwd_bf16 tanh"), Out, y, 1e-5, 1e-6);
        check_bf16(name(kind ? "gelu_bwd_bf16 exact" : "gelu_bwd_bf16 tanh"), Din, g, 1e-5, 1e-6);
    }
    for (int W : {72, 70}) {   // a whole number of vectors per row, and not
        const long long R = 13;
        B16 Src(uniform(W), pad), Dst((size_t)(R * W), pad);
        launch("broadcast_rows_bf16", small_grid, blk, 0u, Dst.p(), Src.c(), R, W);
        std::vector<double> b(R * W);
        for (long long i = 0; i < R * W; i++) b[i] = Src.x[i % W];
        check_bf16(name("broadcast_rows_bf16"), Dst, b, 0, 0);
    }
}
}  // namespace

TEST(bf16_elementwise_vector_path) { elementwise(0); }
TEST(bf16_elementwise_scalar_path) { elementwise(1); }

TEST(bf16_col_sums_and_heads) {
    const long long R = 45, ld = 79;
    const int W = 70;
    B16 M(uniform(R * ld), 0);
    auto acc = uniform(W);
    Buf<float> Acc = buf(acc);
    launch("col_sum_bf16", Dim{cdiv(W, 32), 2}, Dim{32, 8}, 0u, Acc.p(), M.c(), R, W, ld);
    std::vector<double> cs(W), mag(W);
    for (int j = 0; j < W; j++) {
        cs[j] = acc[j];
        mag[j] = std::fabs(acc[j]);
        for (long long r = 0; r < R; r++) { cs[j] += M.x[r * ld + j]; mag[j] += std::fabs(M.x[r * ld + j]); }
    }
    close("col_sum_bf16", Acc.v, cs, 1e-5, 1e-5);
    B16 D(uniform(W), 0);
    launch("col_sum_bf16_bf16", Dim{cdiv(W, 32), 1}, Dim{32, 8}, 0u, D.p(), M.c(), R, W, ld);
    {
        Checker c{"col_sum_bf16_bf16"};
        for (int j = 0; j < W; j++) {
            double want = cs[j] - acc[j] + D.x[j];
            c(j, D.at(j), want, U * std::fabs(want) + 1e-6 * mag[j]);
        }
    }
    const int Bn = 2, N = 7, H = 3, hd = 20, col = 4;
    const long long ldt = col + H * hd + 6;
    B16 S(uniform((size_t)Bn * N * ldt), 0), Hd((size_t)Bn * H * N * hd, 0);
    launch("to_heads_bf16", small_grid, blk, 0u, Hd.p(), S.c(), ldt, col, Bn, N, H, hd);
    std::vector<double> w(Hd.x.size());
    auto hm = [&](int b, int h, int nn, int d) { return (((size_t)b * H + h) * N + nn) * hd + d; };
    auto tm = [&](int b, int h, int nn, int d) { return ((size_t)b * N + nn) * ldt + col + h * hd + d; };
    for (int b = 0; b < Bn; b++)
        for (int h = 0; h < H; h++)
            for (int nn = 0; nn < N; nn++)
                for (int d = 0; d < hd; d++) w[hm(b, h, nn, d)] = S.x[tm(b, h, nn, d)];
    check_bf16("to_heads_bf16", Hd, w, 0, 0);
    B16 Src(uniform(Hd.x.size()), 0), Tok(uniform((size_t)Bn * N * ldt), 0);
    launch("from_heads_bf16", small_grid, blk, 0u, Tok.p(), ldt, col, Src.c(), Bn, N, H, hd);
    std::vector<double> tw(Tok.x);
    for (int b = 0; b < Bn; b++)
        for (int h = 0; h < H; h++)
            for (int nn = 0; nn < N; nn++)
                for (int d = 0; d < hd; d++) tw[tm(b, h, nn, d)] += Src.x[hm(b, h, nn, d)];
    check_bf16("from_heads_bf16", Tok, tw);
}

TEST(bf16_sum_squares_and_loss) {
    const long long n = 6001;
    B16 X(uniform(n, -4, 4), 0);
    std::vector<double> out(1, 1.25);
    launch("sum_squares_bf16", Dim{5}, blk, 0u, out.data(), X.c(), n);
    double ws = 1.25;
    for (double v : X.x) ws += v * v;
    if (!(std::fabs(out[0] - ws) <= 1e-9 * ws)) failf("sum_squares_bf16: got %.12g want %.12g", out[0], ws);
    const int B = 3, C = 300;   // C over the 256-thread block
    for (int kind = 0; kind < 2; kind++) {
        B16 L(uniform((size_t)B * C, -6, 6), 0), D((size_t)B * C, 0);
        auto tg = uniform((size_t)B * C, 0, 1);
        if (kind == 1)
            for (int r = 0; r < B; r++) {
                double s = 0;
                for (int i = 0; i < C; i++) s += tg[r * C + i];
                for (int i = 0; i < C; i++) tg[r * C + i] = (float)(tg[r * C + i] / s);
            }
        Buf<float> Tg = buf(tg);
        std::vector<double> loss(1, 0.5);
        launch("loss_fwd_bwd_bf16", Dim{(unsigned)B}, blk, 0u, loss.data(), D.p(), L.c(), (const float*)Tg.p(), B, C, kind);
        double Lw = 0.5;
        std::vector<double> d((size_t)B * C);
        for (int r = 0; r < B; r++) {
            const double* xr = &L.x[(size_t)r * C];
            const float* tr = &tg[(size_t)r * C];
            if (kind == 0) {
                for (int i = 0; i < C; i++) {
                    double sg = 1.0 / (1.0 + std::exp(-xr[i]));
                    Lw += (-(tr[i] * std::log(sg) + (1 - tr[i]) * std::log(1 - sg))) / B;
                    d[(size_t)r * C + i] = (sg - tr[i]) / B;
                }
            } else {
                double mx = -1e300, z = 0, ts = 0;
                for (int i = 0; i < C; i++) mx = std::max(mx, xr[i]);
                for (int i = 0; i < C; i++) { z += std::exp(xr[i] - mx); ts += tr[i]; }
                double lse = mx + std::log(z);
                for (int i = 0; i < C; i++) {
                    Lw += tr[i] * (lse - xr[i]) / B;
                    d[(size_t)r * C + i] = (std::exp(xr[i] - lse) * ts - tr[i]) / B;
                }
            }
        }
        if (!(std::fabs(loss[0] - Lw) <= 1e-5 * std::fabs(Lw))) failf("loss_fwd_bwd_bf16 kind %d: loss %.9g want %.9g", kind, loss[0], Lw);
        check_bf16(kind ? "loss_fwd_bwd_bf16 softmax dlogits" : "loss_fwd_bwd_bf16 sigmoid dlogits", D, d, 1e-5, 1e-8);
    }
}

namespace {
// norm_fwd_bf16, norm_bwd_dx_bf16, norm_bwd_params_bf16 on one shape; the backward from the
// reference statistics (fp32), so each kernel is checked on its own.
void run_norm_bf16(int R, int W, int centered, bool bias, int pad) {
    char what[80];
    std::snprintf(what, sizeof what, "R=%d W=%d centered=%d bias=%d pad=%d", R, W, centered, bias, pad);
    const float eps = 1e-6f;
    B16 X(uniform((size_t)R * W, -2, 3), pad), S(uniform(W), pad), Bi(uniform(W), pad), Dout(uniform((size_t)R * W), pad),
        Dx(uniform((size_t)R * W), pad), Out((size_t)R * W, pad);
    Buf<float> St((size_t)R * 2);
    launch("norm_fwd_bf16", Dim{(unsigned)R}, Dim{256}, 0u, Out.p(), St.p(), X.c(), S.c(), bias ? Bi.c() : (const uint16_t*)nullptr,
           W, centered, eps);
    std::vector<double> out((size_t)R * W), st((size_t)R * 2), dx(Dx.x), ds(W, 0), db(W, 0);
    for (int r = 0; r < R; r++) {
        const double* x = &X.x[(size_t)r * W];
        double m = 0, ss = 0;
        if (centered) { for (int i = 0; i < W; i++) m += x[i]; m /= W; }
        for (int i = 0; i < W; i++) ss += (x[i] - m) * (x[i] - m);
        double rstd = 1.0 / std::sqrt(ss / W + eps), mg = 0, mgx = 0;
        st[2 * r] = m; st[2 * r + 1] = rstd;
        for (int i = 0; i < W; i++) {
            double xh = (x[i] - m) * rstd, g = Dout.x[(size_t)r * W + i] * S.x[i];
            out[(size_t)r * W + i] = xh * S.x[i] + (bias ? Bi.x[i] : 0.0);
            mg += g / W; mgx += g * xh / W;
            ds[i] += Dout.x[(size_t)r * W + i] * xh;
            db[i] += Dout.x[(size_t)r * W + i];
        }
        for (int i = 0; i < W; i++) {
            double xh = (x[i] - m) * rstd, g = Dout.x[(size_t)r * W + i] * S.x[i];
            dx[(size_t)r * W + i] += rstd * (g - (centered ? mg : 0.0) - xh * mgx);
        }
    }
    check_bf16((std::string("norm_fwd_bf16 out ") + what).c_str(), Out, out, 1e-5, 1e-6);
    close((std::string("norm_fwd_bf16 stats ") + what).c_str(), St.v, st, 1e-6, 1e-5);
    Buf<float> Sr((size_t)R * 2);
    for (size_t i = 0; i < st.size(); i++) Sr[i] = (float)st[i];
    launch("norm_bwd_dx_bf16", Dim{(unsigned)R}, Dim{256}, 0u, Dx.p(), Dout.c(), X.c(), S.c(), (const float*)Sr.p(), W, centered);
    check_bf16((std::string("norm_bwd_dx_bf16 ") + what).c_str(), Dx, dx, 1e-4, 1e-5);
    auto ds0 = uniform(W), db0 = uniform(W);
    Buf<float> Ds = buf(ds0), Db = buf(db0);
    launch("norm_bwd_params_bf16", Dim{cdiv(W, 32), 2}, Dim{32, 8}, 0u, Ds.p(), Db.p(), Dout.c(), X.c(), (const float*)Sr.p(), R, W);
    for (int i = 0; i < W; i++) { ds[i] += ds0[i]; db[i] += db0[i]; }
    close((std::string("norm_bwd_params_bf16 dscale ") + what).c_str(), Ds.v, ds, 1e-5, 1e-5);
    close((std::string("norm_bwd_params_bf16 dbias ") + what).c_str(), Db.v, db, 1e-5, 1e-5);
}
}  // namespace

TEST(bf16_norm_vector_rows) { run_norm_bf16(3, 2056, 1, true, 0); }   // 257 vectors a row: over the 256-thread block
TEST(bf16_norm_scalar_rows) { run_norm_bf16(19, 70, 0, false, 0); }
TEST(bf16_norm_misaligned) { run_norm_bf16(3, 72, 1, true, 1); }

// The in-projection's MLP columns in bf16: GELU(pre + b) into ag's columns, and backward dpre
// (written) with dbias (fp32) summed from the fp32 products, not from the rounded dpre: the sum
// of the rounded values would be off by ~2^-9 of the terms, far over this 1e-5.
TEST(bf16_gelu_cols) {
    const long long T = 37, ld = 48, ldag = 57;   // 37 rows: more than one row chunk's 16 per stride
    const int Mcols = 35, col = 11, kind = 0;     // two 32-column blocks, the second partial
    B16 Pre(uniform(T * ld, -3, 3), 0), Bb(uniform(Mcols), 0), Dag(uniform(T * ldag), 0), G((size_t)(T * ldag), 0),
        Dpre((size_t)(T * ld), 0);
    launch("gelu_cols_bf16", small_grid, blk, 0u, G.p() + col, ldag, Pre.c(), ld, Bb.c(), T, Mcols, kind);
    auto db0 = uniform(Mcols);
    Buf<float> Db = buf(db0);
    launch("gelu_bwd_cols_bf16", Dim{cdiv(Mcols, 32), 2}, Dim{32, 8}, 0u, Dpre.p(), ld, Pre.c(), Bb.c(), Dag.c(), ldag, col, T,
           Mcols, kind, Db.p());
    Checker cg{"gelu_cols_bf16"}, cd{"gelu_bwd_cols_bf16 dpre"};
    std::vector<double> wb(db0.begin(), db0.end());
    for (long long t = 0; t < T; t++)
        for (long long j = 0; j < ldag; j++) {
            bool in = j >= col && j < col + Mcols;
            if (!in && !std::isnan(G.at(t * ldag + j))) failf("gelu_cols_bf16 wrote column %lld outside [col, col + Mcols)", j);
            if (in) {
                double y = gelu_ref(Pre.x[t * ld + j - col] + Bb.x[j - col], kind);
                cg(t * ldag + j, G.at(t * ldag + j), y, (U + 1e-5) * std::fabs(y) + 1e-6);
            }
        }
    for (long long t = 0; t < T; t++)
        for (int j = 0; j < ld; j++) {
            if (j >= Mcols) {
                if (!std::isnan(Dpre.at(t * ld + j))) failf("gelu_bwd_cols_bf16 wrote column %d >= Mcols", j);
                continue;
            }
            double g = Dag.x[t * ldag + col + j] * gelu_grad_ref(Pre.x[t * ld + j] + Bb.x[j], kind);
            cd(t * ld + j, Dpre.at(t * ld + j), g, (U + 1e-5) * std::fabs(g) + 1e-6);
            wb[j] += g;
        }
    close("gelu_bwd_cols_bf16 dbias", Db.v, wb, 1e-5, 1e-5);
}
