// The elementwise, layout, loss and optimizer kernels of misc.cu against float64 references.
// Grid-stride kernels run with a grid too small for n (every thread loops) and n not a multiple
// of the 256-thread block.
#include <algorithm>

#include "harness.h"

using namespace t;

namespace {
constexpr long long n = 2000;
const Dim small_grid{3}, blk{256};
}  // namespace

TEST(add_scale_f32) {
    auto a = uniform(n), b = uniform(n);
    Buf<float> A = buf(a), Bb = buf(b);
    launch("add_f32", small_grid, blk, 0u, A.p(), (const float*)Bb.p(), n);
    std::vector<double> w(n);
    for (int i = 0; i < n; i++) w[i] = (double)a[i] + b[i];
    close("add_f32", A.v, w, 0, 1e-7);
    launch("scale_f32", small_grid, blk, 0u, A.p(), 0.37f, n - 1);   // the last element stays
    for (int i = 0; i < n - 1; i++) w[i] = (double)(float)w[i] * 0.37f;
    w[n - 1] = (float)w[n - 1];
    close("scale_f32", A.v, w, 0, 1e-6);
}

TEST(gelu_fwd_bwd) {
    for (int kind = 0; kind < 2; kind++) {
        auto x = uniform(n, -5, 5), d = uniform(n), acc = uniform(n);
        Buf<float> X = buf(x), D = buf(d), Out(n), Din = buf(acc);
        launch("gelu_fwd", small_grid, blk, 0u, Out.p(), (const float*)X.p(), n, kind);
        launch("gelu_bwd", small_grid, blk, 0u, Din.p(), (const float*)D.p(), (const float*)X.p(), n, kind);
        std::vector<double> y(n), g(n);
        for (int i = 0; i < n; i++) {
            y[i] = gelu_ref(x[i], kind);
            g[i] = acc[i] + d[i] * gelu_grad_ref(x[i], kind);
        }
        close(kind ? "gelu_fwd exact" : "gelu_fwd tanh", Out.v, y, 1e-6, 1e-5);
        close(kind ? "gelu_bwd exact" : "gelu_bwd tanh", Din.v, g, 1e-5, 1e-5);
    }
}

TEST(gelu_bwd_cols) {
    const long long T = 37, ld = 40, ldag = 57;   // 37 rows: more than one row chunk's 16 per stride
    const int Mcols = 35, col = 11, kind = 1;     // 35 columns: two 32-column blocks, the second partial
    auto pre = uniform(T * ld, -3, 3), b = uniform(Mcols), dag = uniform(T * ldag), db0 = uniform(Mcols);
    Buf<float> Pre = buf(pre), Bb = buf(b), Dag = buf(dag), Dpre(T * ld), Db = buf(db0);
    launch("gelu_bwd_cols", Dim{cdiv(Mcols, 32), 2}, Dim{32, 8}, 0u, Dpre.p(), ld, (const float*)Pre.p(), (const float*)Bb.p(),
           (const float*)Dag.p(), ldag, col, T, Mcols, kind, Db.p());
    std::vector<float> got;
    std::vector<double> w, wb(db0.begin(), db0.end());
    for (long long t = 0; t < T; t++)
        for (long long j = 0; j < ld; j++) {
            if (j >= Mcols) {
                if (!std::isnan(Dpre[t * ld + j])) failf("gelu_bwd_cols wrote column %lld >= Mcols", j);
                continue;
            }
            got.push_back(Dpre[t * ld + j]);
            w.push_back(dag[t * ldag + col + j] * gelu_grad_ref((double)pre[t * ld + j] + b[j], kind));
            wb[j] += w.back();
        }
    close("gelu_bwd_cols", got, w, 1e-5, 1e-5);
    close("gelu_bwd_cols dbias", Db.v, wb, 1e-5, 1e-5);
}

TEST(broadcast_rows_col_sum) {
    const long long R = 45;
    const int W = 70;
    auto src = uniform(W);
    Buf<float> S = buf(src), Dst(R * W);
    launch("broadcast_rows", small_grid, blk, 0u, Dst.p(), (const float*)S.p(), R, W);
    std::vector<double> w(R * W);
    for (long long i = 0; i < R * W; i++) w[i] = src[i % W];
    close("broadcast_rows", Dst.v, w, 0, 0);
    const long long ld = W + 9;
    auto m = uniform(R * ld), acc = uniform(W);
    Buf<float> M = buf(m), Acc = buf(acc);
    launch("col_sum", Dim{cdiv(W, 32), 2}, Dim{32, 8}, 0u, Acc.p(), (const float*)M.p(), R, W, ld);
    std::vector<double> cs(W);
    for (int j = 0; j < W; j++) {
        cs[j] = acc[j];
        for (long long r = 0; r < R; r++) cs[j] += m[r * ld + j];
    }
    close("col_sum", Acc.v, cs, 1e-5, 1e-5);
}

TEST(to_from_heads) {
    const int B = 2, N = 7, H = 3, hd = 20, col = 4;
    const long long ld = col + H * hd + 6;
    auto src = uniform((size_t)B * N * ld);
    Buf<float> S = buf(src), Dst((size_t)B * H * N * hd);
    launch("to_heads", small_grid, blk, 0u, Dst.p(), (const float*)S.p(), ld, col, B, N, H, hd);
    std::vector<double> w(Dst.size());
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int nn = 0; nn < N; nn++)
                for (int d = 0; d < hd; d++)
                    w[(((size_t)b * H + h) * N + nn) * hd + d] = src[((size_t)b * N + nn) * ld + col + h * hd + d];
    close("to_heads", Dst.v, w, 0, 0);
    auto heads = uniform(Dst.size()), base = uniform((size_t)B * N * ld);
    Buf<float> Hd = buf(heads), Tok = buf(base);
    launch("from_heads", small_grid, blk, 0u, Tok.p(), ld, col, (const float*)Hd.p(), B, N, H, hd);
    std::vector<double> t(base.begin(), base.end());
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int nn = 0; nn < N; nn++)
                for (int d = 0; d < hd; d++)
                    t[((size_t)b * N + nn) * ld + col + h * hd + d] += heads[(((size_t)b * H + h) * N + nn) * hd + d];
    close("from_heads", Tok.v, t, 0, 1e-7);
}

TEST(im2col_pos_grad) {
    const int B = 2, C = 3, S = 10, P = 5, G = S / P, K = C * P * P;
    auto img = uniform((size_t)B * C * S * S);
    Buf<float> I = buf(img), Cols((size_t)B * G * G * K);
    launch("im2col", small_grid, blk, 0u, Cols.p(), (const float*)I.p(), B, C, S, P);
    std::vector<double> w(Cols.size());
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++)
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < P; i++)
                        for (int j = 0; j < P; j++)
                            w[((size_t)b * G * G + gy * G + gx) * K + c * P * P + i * P + j] =
                                img[(((size_t)b * C + c) * S + gy * P + i) * S + gx * P + j];
    close("im2col", Cols.v, w, 0, 0);
    const long long ND = 333;
    auto dout = uniform(B * ND), pos = uniform(ND);
    Buf<float> Do = buf(dout), Pos = buf(pos);
    launch("pos_grad", small_grid, blk, 0u, Pos.p(), (const float*)Do.p(), B, ND);
    std::vector<double> pw(ND);
    for (long long i = 0; i < ND; i++) pw[i] = (double)pos[i] + dout[i] + dout[ND + i];
    close("pos_grad", Pos.v, pw, 2e-7, 1e-6);   // two float roundings of terms up to 1

    // bf16 columns: each the image value rounded once (bf is the reference rounding, bit for bit)
    Buf<uint16_t> Cols16(Cols.size());
    launch("im2col_bf16", small_grid, blk, 0u, Cols16.p(), (const float*)I.p(), B, C, S, P);
    for (size_t i = 0; i < Cols16.size(); i++)
        if (Cols16.v[i] != bf(w[i])) { failf("im2col_bf16[%zu]: 0x%04x, want 0x%04x", i, Cols16.v[i], bf(w[i])); break; }
    // bf16 dout, fp32 dpos: the sum of the widened values, in fp32
    Buf<uint16_t> Do16(B * ND);
    for (long long i = 0; i < B * ND; i++) Do16.v[i] = bf(dout[i]);
    Buf<float> Pos2 = buf(pos);
    launch("pos_grad_bf16", small_grid, blk, 0u, Pos2.p(), (const uint16_t*)Do16.p(), B, ND);
    for (long long i = 0; i < ND; i++) pw[i] = (double)pos[i] + unbf(Do16.v[i]) + unbf(Do16.v[ND + i]);
    close("pos_grad_bf16", Pos2.v, pw, 2e-7, 1e-6);
}

TEST(sum_squares) {
    auto x = uniform(n * 3, -4, 4);
    Buf<float> X = buf(x);
    std::vector<double> out(1, 1.25);   // accumulates into what is there
    launch("sum_squares", Dim{5}, blk, 0u, out.data(), (const float*)X.p(), n * 3);
    double w = 1.25;
    for (float v : x) w += (double)v * v;
    if (!(std::fabs(out[0] - w) <= 1e-9 * w)) failf("sum_squares: got %.12g want %.12g", out[0], w);
}

TEST(loss_fwd_bwd) {
    const int B = 3, C = 300;   // C over the 256-thread block
    for (int kind = 0; kind < 2; kind++) {
        auto x = uniform((size_t)B * C, -6, 6), tg = uniform((size_t)B * C, 0, 1);
        if (kind == 1)   // softmax targets: rows summing to one
            for (int r = 0; r < B; r++) {
                double s = 0;
                for (int i = 0; i < C; i++) s += tg[r * C + i];
                for (int i = 0; i < C; i++) tg[r * C + i] = (float)(tg[r * C + i] / s);
            }
        Buf<float> X = buf(x), T = buf(tg), D((size_t)B * C);
        std::vector<double> loss(1, 0.5);
        launch("loss_fwd_bwd", Dim{(unsigned)B}, blk, 0u, loss.data(), D.p(), (const float*)X.p(), (const float*)T.p(), B,
               C, kind);
        double L = 0.5;
        std::vector<double> d((size_t)B * C);
        for (int r = 0; r < B; r++) {
            const float* xr = &x[(size_t)r * C];
            const float* tr = &tg[(size_t)r * C];
            if (kind == 0) {
                for (int i = 0; i < C; i++) {
                    double xi = xr[i], ti = tr[i], sg = 1.0 / (1.0 + std::exp(-xi));
                    L += (-(ti * std::log(sg) + (1 - ti) * std::log(1 - sg))) / B;
                    d[(size_t)r * C + i] = (sg - ti) / B;
                }
            } else {
                double mx = -1e300, z = 0, ts = 0;
                for (int i = 0; i < C; i++) mx = std::max(mx, (double)xr[i]);
                for (int i = 0; i < C; i++) { z += std::exp(xr[i] - mx); ts += tr[i]; }
                double lse = mx + std::log(z);
                for (int i = 0; i < C; i++) {
                    L += tr[i] * (lse - xr[i]) / B;
                    d[(size_t)r * C + i] = (std::exp(xr[i] - lse) * ts - tr[i]) / B;
                }
            }
        }
        if (!(std::fabs(loss[0] - L) <= 1e-5 * std::fabs(L))) failf("loss_fwd_bwd kind %d: loss %.9g want %.9g", kind, loss[0], L);
        close(kind ? "loss_fwd_bwd softmax dlogits" : "loss_fwd_bwd sigmoid dlogits", D.v, d, 1e-7, 1e-5);
    }
}

TEST(adamw_f32) {
    auto p = uniform(n), g = uniform(n), m = uniform(n, -0.1f, 0.1f), v = uniform(n, 0, 0.01f);
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f, gscale = 0.5f;
    const int step = 3;
    const float bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    Buf<float> P = buf(p), G = buf(g), M = buf(m), V = buf(v);
    launch("adamw_f32", small_grid, blk, 0u, P.p(), (const float*)G.p(), M.p(), V.p(), n, lr, b1, b2, eps, wd, gscale, bc1,
           bc2);
    std::vector<double> wp(n), wm(n), wv(n);
    for (int i = 0; i < n; i++) {
        double gi = (double)g[i] * gscale;
        wm[i] = b1 * (double)m[i] + (1 - (double)b1) * gi;
        wv[i] = b2 * (double)v[i] + (1 - (double)b2) * gi * gi;
        wp[i] = p[i] - lr * ((wm[i] / bc1) / (std::sqrt(wv[i] / bc2) + eps) + wd * (double)p[i]);
    }
    close("adamw_f32 m", M.v, wm, 1e-8, 1e-5);
    close("adamw_f32 v", V.v, wv, 1e-10, 1e-5);
    close("adamw_f32 p", P.v, wp, 1e-7, 1e-6);
}

// The capturable AdamW: adamw_scalars turns the squared norm and step count into the clip scale and
// bias corrections (or a skip on a non-finite norm), checked against float64.
TEST(adamw_scalars) {
    const float b1 = 0.9f, b2 = 0.999f, clip = 1.0f, lr = 2e-3f;
    for (double sumsq : {9.0, 0.25, std::nan(""), (double)INFINITY}) {
        Buf<float> HP = buf(std::vector<float>{lr, 0, 0, 0, 0});
        Buf<int> Step(1);
        Buf<double> S(1);
        Step[0] = 4;
        S[0] = sumsq;
        launch("adamw_scalars", Dim{1}, Dim{32}, 0u, HP.p(), Step.p(), (const double*)S.p(), clip, b1, b2);
        bool finite = std::isfinite(sumsq);
        double norm = std::sqrt(sumsq), gscale = norm > clip ? clip / norm : 1.0;   // Inf: 0, NaN: 1 (unused)
        int t = finite ? 5 : 4;
        if (Step.v[0] != t) failf("adamw_scalars: step %d, want %d", Step.v[0], t);
        std::vector<double> hp = {lr, gscale, 1 - std::pow((double)b1, t), 1 - std::pow((double)b2, t), finite ? 1.0 : 0.0};
        close("adamw_scalars hp", HP.v, hp, 0, 1e-6);
    }
}

namespace {
struct Chunk { long long offset; int size; float wd; };   // misc.cu's AdamwChunk
struct Range { long long offset; long long size; float wd; };
// The host's split (Kernels.adamwChunks): each range cut at multiples of len.
std::vector<Chunk> chunk_table(const std::vector<Range>& ranges, long long len) {
    std::vector<Chunk> t;
    for (const Range& r : ranges)
        for (long long o = r.offset, end = r.offset + r.size; o < end;) {
            long long next = std::min(end, (o / len + 1) * len);
            t.push_back({o, (int)(next - o), r.wd});
            o = next;
        }
    return t;
}
float bf16_value(float x) { return (float)unbf(bf(x)); }
}  // namespace

// The multi-tensor AdamW over a chunk table: decay ranges with different weight decay, sizes that
// are not multiples of the chunk or of 4, a gap no range covers (must stay as it was), clipping
// active; buffers aligned, all shifted by one float (unaligned heads), and with the gradient
// shifted against the others (no vector path). Masters and moments against float64; the copy
// (bf16 bits, or float32 holding bf16 values) must be the kernel's own updated master rounded by
// the reference's RNE, bit for bit. A non-finite norm (hp[4] = 0) leaves every buffer's bits.
TEST(adamw_multi) {
    const float b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, lr = 3e-3f, gscale = 0.37f;
    const int t = 7;
    const float bc1 = (float)(1 - std::pow((double)b1, t)), bc2 = (float)(1 - std::pow((double)b2, t));
    const long long N = sanitized() ? 700 : 2411, gap = 5;   // elements [N - gap, N) are in no range
    const std::vector<Range> ranges = {{0, 7, 0.0f}, {7, N / 2 - 7, 0.05f}, {N / 2, 1, 0.1f}, {N / 2 + 1, N - gap - N / 2 - 1, 0.0f}};
    const std::vector<Chunk> table = chunk_table(ranges, 256);
    struct Shift { int p, g, m, v, c; const char* what; };
    for (Shift sh : {Shift{0, 0, 0, 0, 0, "aligned"}, Shift{1, 1, 1, 1, 1, "shifted by one"},
                     Shift{0, 2, 0, 0, 0, "g misaligned"}, Shift{0, 0, 0, 0, 1, "copy misaligned"}})
        for (int copyKind = 0; copyKind < 3; copyKind++)   // 0 none, 1 bf16, 2 float32 holding bf16
            for (bool finite : {true, false}) {
                auto p = uniform(N), g = uniform(N), m = uniform(N, -0.1f, 0.1f), v = uniform(N, 0, 0.01f);
                Buf<float> P(N + 4), G(N + 4), M(N + 4), V(N + 4), C32(N + 4);
                Buf<uint16_t> C16(N + 4);
                std::copy(p.begin(), p.end(), P.p() + sh.p);
                std::copy(g.begin(), g.end(), G.p() + sh.g);
                std::copy(m.begin(), m.end(), M.p() + sh.m);
                std::copy(v.begin(), v.end(), V.p() + sh.v);
                std::vector<float> c0 = uniform(N);
                for (long long i = 0; i < N; i++) { C16[sh.c + i] = bf(c0[i]); C32[sh.c + i] = bf16_value(c0[i]); }
                Buf<float> HP = buf(std::vector<float>{lr, gscale, bc1, bc2, finite ? 1.0f : 0.0f});
                Buf<Chunk> T(table.size());
                T.v = table;
                float *pp = P.p() + sh.p, *mp = M.p() + sh.m, *vp = V.p() + sh.v;
                const float* gp = G.p() + sh.g;
                if (copyKind == 2)
                    launch("adamw_multi_f32copy", small_grid, blk, 0u, pp, gp, mp, vp, C32.p() + sh.c,
                           (const Chunk*)T.p(), (int)table.size(), (const float*)HP.p(), b1, b2, eps);
                else
                    launch("adamw_multi", small_grid, blk, 0u, pp, gp, mp, vp, copyKind ? C16.p() + sh.c : (uint16_t*)nullptr,
                           (const Chunk*)T.p(), (int)table.size(), (const float*)HP.p(), b1, b2, eps);
                std::vector<double> wp(N), wm(N), wv(N);
                std::vector<float> gotp(pp, pp + N), gotm(mp, mp + N), gotv(vp, vp + N);
                for (long long i = 0; i < N; i++) {
                    float wd = -1;
                    for (const Range& r : ranges) if (i >= r.offset && i < r.offset + r.size) wd = r.wd;
                    if (!finite || wd < 0) { wp[i] = p[i]; wm[i] = m[i]; wv[i] = v[i]; continue; }
                    double gi = (double)g[i] * gscale;
                    wm[i] = b1 * (double)m[i] + (1 - (double)b1) * gi;
                    wv[i] = b2 * (double)v[i] + (1 - (double)b2) * gi * gi;
                    wp[i] = p[i] - lr * ((wm[i] / bc1) / (std::sqrt(wv[i] / bc2) + eps) + wd * (double)p[i]);
                }
                std::string at = std::string(sh.what) + (copyKind == 0 ? ", no copy" : copyKind == 1 ? ", bf16 copy" : ", f32 copy")
                                 + (finite ? "" : ", skipped step");
                double tol = finite ? 1 : 0;
                close(("adamw_multi m, " + at).c_str(), gotm, wm, 1e-8 * tol, 1e-5 * tol);
                close(("adamw_multi v, " + at).c_str(), gotv, wv, 1e-10 * tol, 1e-5 * tol);
                close(("adamw_multi p, " + at).c_str(), gotp, wp, 1e-7 * tol, 1e-6 * tol);
                size_t bad = 0;
                for (long long i = 0; i < N; i++) {
                    bool updated = finite && i < N - gap;
                    uint16_t want16 = updated ? bf(pp[i]) : bf(c0[i]);
                    float got32 = C32[sh.c + i], want32 = (float)unbf(want16);
                    if (copyKind == 1 && C16[sh.c + i] != want16) bad++;
                    if (copyKind == 2 && std::memcmp(&got32, &want32, 4) != 0) bad++;
                }
                if (bad) failf("adamw_multi copy, %s: %zu of %lld elements are not the updated master rounded", at.c_str(), bad, N);
                // nothing written outside the buffers' N elements
                for (Buf<float>* b : {&P, &M, &V})
                    for (size_t i = 0; i < b->size(); i++)
                        if ((long long)i < (b == &P ? sh.p : b == &M ? sh.m : sh.v)
                            || (long long)i >= (b == &P ? sh.p : b == &M ? sh.m : sh.v) + N)
                            if (!std::isnan((*b)[i])) failf("adamw_multi, %s: wrote outside the buffer at %zu", at.c_str(), i);
            }
}

namespace {
std::vector<uint16_t> run_f32_to_bf16(const std::vector<float>& x) {
    Buf<float> X = buf(x);
    std::vector<uint16_t> out(x.size(), 0xabcd);
    launch("f32_to_bf16", small_grid, blk, 0u, out.data(), (const float*)X.p(), (long long)x.size());
    return out;
}
uint16_t ref_bf16(float f) {   // round to nearest even; NaN stays NaN
    if (std::isnan(f)) return 0x7fff;
    double r = bf16_round(f);
    float g = (float)r;
    uint32_t u;
    std::memcpy(&u, &g, 4);
    return (uint16_t)(u >> 16);
}
}  // namespace

TEST(f32_to_bf16_finite) {
    auto x = uniform(n, -100, 100);
    // ties: exactly halfway between two bf16 values, both parities; overflow to inf
    const uint32_t ties[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x7f7fffffu, 0x00000001u};
    for (int i = 0; i < 5; i++) std::memcpy(&x[i], &ties[i], 4);
    auto out = run_f32_to_bf16(x);
    for (size_t i = 0; i < x.size(); i++)
        if (out[i] != ref_bf16(x[i])) { failf("f32_to_bf16(%a) = 0x%04x, want 0x%04x", x[i], out[i], ref_bf16(x[i])); break; }
}

// A NaN stays a NaN, also one whose mantissa would carry into the exponent when rounded
// (0x7f800001 -> Inf, 0x7fffffff -> -0 before bf16.cuh's fix).
TEST(f32_to_bf16_nan_stays_nan) {
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0xffc00000u, 0xff800001u};
    std::vector<float> x(5);
    for (int i = 0; i < 5; i++) std::memcpy(&x[i], &nans[i], 4);
    auto out = run_f32_to_bf16(x);
    for (int i = 0; i < 5; i++)
        if ((out[i] & 0x7fff) <= 0x7f80) failf("f32_to_bf16(NaN 0x%08x) = 0x%04x, not a NaN", nans[i], out[i]);
}

TEST(gemm_epilogue) {
    const int M = 37, N = 70, resRows = 5, geluCols = 33;
    const long long ldc = N + 3, ldr = N + 1, ldg = geluCols + 2;
    auto c = uniform(M * ldc), bias = uniform(N), res = uniform(resRows * ldr), gb = uniform(N);
    Buf<float> C = buf(c), Bi = buf(bias), R = buf(res), Gb = buf(gb), G(M * ldg);
    launch("gemm_epilogue", small_grid, blk, 0u, C.p(), ldc, M, N, (const float*)Bi.p(), (const float*)R.p(), ldr, resRows,
           G.p(), ldg, geluCols, (const float*)Gb.p(), 0);
    std::vector<double> wc(c.begin(), c.end());
    std::vector<float> gg;
    std::vector<double> wg;
    for (int m = 0; m < M; m++)
        for (int nn = 0; nn < N; nn++) {
            double v = (double)c[m * ldc + nn] + bias[nn] + res[(m % resRows) * ldr + nn];
            wc[m * ldc + nn] = v;
            if (nn < geluCols) { gg.push_back(G[m * ldg + nn]); wg.push_back(gelu_ref(v + gb[nn], 0)); }
        }
    close("gemm_epilogue C", C.v, wc, 1e-6, 1e-6);
    close("gemm_epilogue gout", gg, wg, 1e-6, 1e-5);
}

// fill_uniform: lo + (hi - lo) * (top 24 bits of splitmix64(seed + 0x9e3779b97f4a7c15 (i + 1))) / 2^24,
// the same values whatever the grid.
TEST(fill_uniform) {
    const long long cnt = 3001;
    const unsigned long long seed = rng()();
    const float lo = -0.5f, hi = 2.0f;
    Buf<float> A(cnt), B2(cnt);
    launch("fill_uniform", small_grid, blk, 0u, A.p(), cnt, seed, lo, hi);
    launch("fill_uniform", Dim{cdiv(cnt, 256)}, blk, 0u, B2.p(), cnt, seed, lo, hi);
    std::vector<double> w(cnt);
    double mean = 0;
    for (long long i = 0; i < cnt; i++) {
        uint64_t z = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        w[i] = lo + (hi - lo) * ((double)(z >> 40) / 16777216.0);
        if (!(A[i] >= lo && A[i] < hi)) failf("fill_uniform [%lld] = %g outside [%g, %g)", i, A[i], lo, hi);
        mean += A[i] / (double)cnt;
    }
    close("fill_uniform", A.v, w, 1e-6, 0);   // float arithmetic near lo + ... = 0: absolute
    if (std::memcmp(A.p(), B2.p(), cnt * sizeof(float)) != 0) failf("fill_uniform depends on the grid");
    if (std::fabs(mean - 0.75) > 0.05) failf("fill_uniform mean %g, want about 0.75", mean);
}

// The conversions of the bf16 reference (round_bf16_f32, bf16_to_f32, zero_u16) against a rounding
// computed here by arithmetic on doubles rather than on bits: x / ulp rounded half-to-even by
// nearbyint (x has at most 24 significant bits, so the quotient is exact), ulp = 2^(e - 7) with
// e clamped at fp32's smallest normal exponent (bf16 shares fp32's exponent range, so subnormals
// keep their fixed ulp), and past the largest bf16 the IEEE overflow to Inf.
namespace {
float ref_round_bf16(float x) {
    if (std::isnan(x) || std::isinf(x) || x == 0) return x;
    int e = std::max(std::ilogb(x), -126);
    double ulp = std::ldexp(1.0, e - 7);
    double r = std::nearbyint((double)x / ulp) * ulp;
    const double max_bf16 = std::ldexp(255.0, 120);   // (2 - 2^-7) * 2^127
    if (std::fabs(r) > max_bf16) return x > 0 ? INFINITY : -INFINITY;
    return (float)r;
}
uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Random bit patterns (every exponent, NaN payloads, subnormals) plus the specials and ties.
std::vector<float> bf16_cases(size_t random) {
    std::vector<uint32_t> bits = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,              // +-0, +-Inf
        0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fffffffu, 0xff800001u,  // NaNs, payload low and high
        0x7f7fffffu, 0xff7fffffu, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7f8001u,  // largest finite: overflow or not
        0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f80ffffu, 0x3f807fffu,  // ties both parities, near ties
        0x00000001u, 0x80000001u, 0x00008000u, 0x00018000u, 0x00007fffu,  // subnormals and their ties
        0x007fffffu, 0x00800000u, 0x007f8000u, 0x00ff8000u,               // subnormal/normal boundary
    };
    for (size_t i = 0; i < random; i++) bits.push_back((uint32_t)rng()());
    std::vector<float> x;
    for (uint32_t u : bits) x.push_back(float_of(u));
    return x;
}
}  // namespace

TEST(round_bf16_f32_bits) {
    auto x = bf16_cases(200000);
    Buf<float> T = buf(x);
    launch("round_bf16_f32", small_grid, blk, 0u, T.p(), (long long)x.size());
    auto b = run_f32_to_bf16(x);   // the same rounding as the stored bf16 bits
    int bad = 0;
    for (size_t i = 0; i < x.size() && bad < 5; i++) {
        uint32_t in = bits_of(x[i]), got = bits_of(T[i]);
        if ((got & 0xffffu) != 0) { failf("round_bf16_f32(0x%08x) = 0x%08x has low bits", in, got); bad++; continue; }
        if (got >> 16 != b[i]) { failf("round_bf16_f32(0x%08x) = 0x%08x, f32_to_bf16 gives 0x%04x", in, got, b[i]); bad++; }
        if (std::isnan(x[i])) {   // quiet NaN, sign and top payload kept
            if (!std::isnan(T[i]) || (got & 0x80000000u) != (in & 0x80000000u) || !(got & 0x00400000u)
                || (got & 0xffbf0000u) != (in & 0xffbf0000u)) {
                failf("round_bf16_f32(NaN 0x%08x) = 0x%08x: not the quiet NaN of its sign and payload", in, got);
                bad++;
            }
            continue;
        }
        uint32_t want = bits_of(ref_round_bf16(x[i]));
        if (got != want) { failf("round_bf16_f32(0x%08x = %a) = 0x%08x, want 0x%08x", in, x[i], got, want); bad++; }
    }
}

// Every bf16 bit pattern widens to the value its fields denote.
TEST(bf16_to_f32_all_patterns) {
    std::vector<uint16_t> in(65536);
    for (int i = 0; i < 65536; i++) in[i] = (uint16_t)i;
    Buf<float> Out(in.size());
    launch("bf16_to_f32", small_grid, blk, 0u, Out.p(), (const uint16_t*)in.data(), (long long)in.size());
    int bad = 0;
    for (int i = 0; i < 65536 && bad < 5; i++) {
        int sign = i >> 15, exp = (i >> 7) & 0xff, man = i & 0x7f;
        double s = sign ? -1 : 1;
        if (exp == 0xff) {
            bool ok = man ? std::isnan(Out[i]) && (bits_of(Out[i]) >> 16) == (uint32_t)i : Out[i] == s * INFINITY;
            if (!ok) { failf("bf16_to_f32(0x%04x) = 0x%08x", i, bits_of(Out[i])); bad++; }
            continue;
        }
        double v = exp ? s * std::ldexp(1.0 + man / 128.0, exp - 127) : s * std::ldexp(man / 128.0, -126);
        if ((double)Out[i] != v || std::signbit(Out[i]) != (bool)sign) {
            failf("bf16_to_f32(0x%04x) = %a, want %a", i, Out[i], v);
            bad++;
        }
    }
}

// zero_u16 clears exactly its n 16-bit elements, from an odd start and an odd count.
TEST(zero_u16_edges) {
    Buf<uint16_t> T(4099);   // 0xffff everywhere
    launch("zero_u16", small_grid, blk, 0u, T.p() + 3, (long long)4093);
    for (size_t i = 0; i < T.size(); i++) {
        uint16_t want = i >= 3 && i < 3 + 4093 ? 0 : 0xffff;
        if (T[i] != want) { failf("zero_u16: element %zu = 0x%04x, want 0x%04x", i, T[i], want); break; }
    }
}
