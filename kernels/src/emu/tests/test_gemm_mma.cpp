// The tensor-core GEMMs, gemm_bf16_mma (mma.sync + ldmatrix + cp.async pipeline) and gemm_bf16_wgmma
// (Hopper: TMA + mbarrier ring + warp-specialised wgmma, its operands through tensor maps), against
// one reference: every form (NT, NN, TN) x every epilogue (beta 0 / 1, bias, residual broadcast and in place, GELU forward tanh / exact, GELU
// backward, bias gradient, fp32 / bf16 output) against float64 of the same bf16 inputs, on shapes
// that cross every tile edge (M, N around 128, K around the 32-step and the 4-stage ring, sizes
// that are not multiples of 8). Operand padding (ld > extent) holds bf16 NaN and output padding
// keeps its NaN bytes: a read past an edge or a write outside the output shows. bias, gbias, the
// residual and the GELU buffer have the output's type (bf16 or fp32), dbias is fp32. The element-wise
// operand loads (vecLoads 0: any stride and alignment) run on odd strides and operands that start
// one element past a 16-byte boundary, on the same shapes and epilogues.
// Element-wise bound (docs/DESIGN.md, tolerances): |got - want| <= (K + 8) 2^-23 S (+ 2^-8 |want|
// for a bf16 output), S = sum_k |a_k b_k| + |beta C_old| + |bias| + |res|: fp32 accumulation of K
// terms with a factor of two to spare, plus one bf16 rounding; GELU outputs get 1.2 times that
// (|GELU'| <= 1.13) plus 1e-6 (|want| + 1) for the fp32 GELU itself.
#include <cuda.h>

#include "harness.h"

using namespace t;

namespace {

constexpr int NT = 0, NN = 1, TN = 2;
constexpr int GELU_NONE = 0, GELU_FWD = 1, GELU_BWD = 2;
const char* const kForm[] = {"NT", "NN", "TN"};
enum Kernel { MMA, WGMMA };
const char* const kKernel[] = {"gemm_bf16_mma", "gemm_bf16_wgmma"};

// gemm_bf16_wgmma's tile and shared memory (gemm_bf16_wgmma.cu; Kernels.WGMMA_* on the JVM).
// The smem: 4 stages of A and B, 2 consumers x (a staging sub-tile of 64 x 128 bytes + 128 threads x 16 fp32),
// 8 mbarriers, alignment slack.
constexpr int kWgBM = 128, kWgBN = 256, kWgThreads = 384,
              kWgSmem = 4 * (128 + 256) * 64 * 2 + 2 * (64 * 128 + 128 * 16 * 4) + 2 * 4 * 8 + 1024;
// Clusters of 2 CTAs along M (the pair of tile rows 2p, 2p + 1 at one tile column; B multicast).
// Persistent clusters (on a GPU one CTA per SM): 2, so that with 3 or more pairs a cluster runs
// several and its ring and barrier phases carry over from one pair to the next.
constexpr unsigned kWgCluster = 2, kWgClusters = 2;
// gemm_bf16_wgmma_qk: 3 stages, 2 consumers x a whole staged 64 x 256 bf16 tile, 6 mbarriers, alignment slack.
constexpr int kWgQkSmem = 3 * (128 + 256) * 64 * 2 + 2 * 64 * 256 * 2 + 2 * 3 * 8 + 1024;

// The bf16 tensor map Kernels.gemmBf16Wgmma builds for a stored rows x cols operand (128B swizzle).
CUtensorMap bf16_map(const uint16_t* p, int rows, int cols, long long ld, int boxRows) {
    CUtensorMap m;
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)p, rows, cols, ld * 2, 2, boxRows, 64, CU_TENSOR_MAP_SWIZZLE_128B,
                              &m, err, sizeof err))
        failf("emu_encode_tensor_map: %s", err);
    return m;
}

struct Epi {
    float beta = 0;
    bool outBf16 = false, bias = false, res = false, resInPlace = false;
    int resRows = 1;
    int gelu = GELU_NONE, kind = 0, col0 = 0, cols = 0;
    bool gbias = false, dbias = false;
};

// An output-typed buffer: fp32 or bf16 bits, NaN-filled or random.
struct Out {
    bool b16;
    std::vector<float> f;
    std::vector<uint16_t> h;
    Out(bool bf16, size_t n) : b16(bf16), f(bf16 ? 0 : n), h(bf16 ? n : 0) {
        if (b16) std::fill(h.begin(), h.end(), 0xffff); else std::memset(f.data(), 0xff, n * 4);
    }
    void randomize(float scale = 1) {
        if (b16) for (auto& x : h) x = bf(scale * uniform(1)[0]);
        else { f = uniform(f.size()); for (auto& x : f) x *= scale; }
    }
    void* p() { return b16 ? (void*)h.data() : (void*)f.data(); }
    double at(size_t i) const { return b16 ? unbf(h[i]) : (double)f[i]; }
    bool untouched(const Out& o, size_t i) const {
        return b16 ? h[i] == o.h[i] : std::memcmp(&f[i], &o.f[i], 4) == 0;
    }
};

// unaligned: gemm_bf16_mma: odd row strides and operands one element past a 16-byte boundary (vecLoads 0);
// gemm_bf16_wgmma (whose operands TMA loads: always aligned): C's row stride is odd, so C is stored
// directly (tmaC 0, as Kernels.tmaStoresC chooses), else it is a multiple of 8 elements and C goes
// through the staging sub-tile and the TMA store.
void run(Kernel kernel, int form, int M, int N, int K, const Epi& e, bool unaligned = false) {
    const bool oddOps = unaligned && kernel == MMA;
    // op(A) is M x K, op(B) is K x N; stored as the form says, rows padded to a multiple of 8 plus 8
    // (unaligned: plus 1 and 3, from element 1 of the buffer).
    const bool aK = form != TN, bK = form == NT;
    const int aRows = aK ? M : K, aCols = aK ? K : M, bRows = bK ? N : K, bCols = bK ? K : N;
    const long long lda = oddOps ? aCols + 1 : (aCols + 7) / 8 * 8 + 8, ldb = oddOps ? bCols + 3 : (bCols + 7) / 8 * 8 + 8;
    const size_t a0 = oddOps ? 1 : 0;
    std::vector<uint16_t> a((size_t)aRows * lda + 8, 0xffff), b((size_t)bRows * ldb + 8, 0xffff);   // padding: bf16 NaN
    for (int r = 0; r < aRows; r++)
        for (int c = 0; c < aCols; c++) a[a0 + (size_t)r * lda + c] = bf(uniform(1)[0]);
    for (int r = 0; r < bRows; r++)
        for (int c = 0; c < bCols; c++) b[a0 + (size_t)r * ldb + c] = bf(uniform(1)[0]);
    auto A = [&](int m, int k) { return unbf(a[a0 + (aK ? (size_t)m * lda + k : (size_t)k * lda + m)]); };
    auto B = [&](int k, int n) { return unbf(b[a0 + (bK ? (size_t)n * ldb + k : (size_t)k * ldb + n)]); };

    const bool tmaC = kernel == WGMMA && !unaligned;
    const long long ldc = tmaC ? (N + 7) / 8 * 8 + 8 : N + 5, ldr = e.resInPlace ? ldc : N + 3, ldg = e.cols + 3;
    Out C(e.outBf16, (size_t)M * ldc);
    if (e.beta != 0 || e.resInPlace) C.randomize();
    const Out C0 = C;
    Out R(e.outBf16, (size_t)e.resRows * ldr);
    R.randomize();
    Out G(e.outBf16, (size_t)M * ldg);
    if (e.gelu == GELU_BWD) G.randomize();   // pre
    const Out G0 = G;
    Out bias(e.outBf16, N), gb(e.outBf16, std::max(1, e.cols));
    bias.randomize();
    gb.randomize(2);
    Buf<float> dbias(M);
    if (e.beta != 0) dbias.v = uniform(M);
    const std::vector<float> dbias0 = dbias.v;
    const void* res = e.resInPlace ? C.p() : R.p();
    const Out& Rv = e.resInPlace ? C0 : R;

    const void* biasP = e.bias ? (const void*)bias.p() : nullptr;
    const void* resP = e.res ? res : (const void*)nullptr;
    void* gauxP = e.gelu ? G.p() : (void*)nullptr;
    const void* gbP = e.gbias ? (const void*)gb.p() : nullptr;
    float* dbP = e.dbias ? dbias.p() : (float*)nullptr;
    if (kernel == MMA)
        launch("gemm_bf16_mma", Dim{cdiv(N, 128), cdiv(M, 128)}, Dim{256}, 65536u, form, unaligned ? 0 : 1,
               (const uint16_t*)a.data() + a0, lda, (const uint16_t*)b.data() + a0, ldb, C.p(), ldc, M, N, K, e.beta,
               (int)e.outBf16, biasP, resP, ldr, e.resRows, e.gelu, e.kind, e.col0, e.cols, gauxP, ldg, gbP, dbP);
    else {   // boxes: K-major operands a whole tile of rows, MN-major ones 64 x 64; C 64 rows of 128 bytes
        CUtensorMap mapC{};
        if (tmaC) {
            const unsigned eb = e.outBf16 ? 2 : 4;
            char err[256] = "";
            if (emu_encode_tensor_map((unsigned long long)(uintptr_t)C.p(), M, N, ldc * eb, eb, 64, 128 / eb,
                                      CU_TENSOR_MAP_SWIZZLE_128B, &mapC, err, sizeof err))
                failf("emu_encode_tensor_map (C): %s", err);
        }
        launch("gemm_bf16_wgmma", Dim{kWgCluster * std::min(kWgClusters, cdiv(N, kWgBN) * cdiv(cdiv(M, kWgBM), kWgCluster))}, Dim{kWgThreads},
               (unsigned)kWgSmem, form, bf16_map(a.data(), aRows, aCols, lda, aK ? kWgBM : 64),
               bf16_map(b.data(), bRows, bCols, ldb, bK ? kWgBN / kWgCluster : 64), mapC, (int)tmaC,
               C.p(), ldc, M, N, K, e.beta, (int)e.outBf16, biasP, resP, ldr, e.resRows, e.gelu, e.kind, e.col0, e.cols,
               gauxP, ldg, gbP, dbP);
    }

    char what[256];
    std::snprintf(what, sizeof what, "%s%s %s%s M=%d N=%d K=%d beta=%g out=%s bias=%d res=%d/%d%s gelu=%d/%d [%d,+%d)%s%s",
                  kKernel[kernel], tmaC ? " (TMA store)" : "", kForm[form], unaligned ? " unaligned" : "", M, N, K, e.beta, e.outBf16 ? "bf16" : "f32", e.bias, e.res, e.resRows,
                  e.resInPlace ? " in place" : "", e.gelu, e.kind, e.col0, e.cols, e.gbias ? " gbias" : "",
                  e.dbias ? " dbias" : "");
    const double gamma = (K + 8) * std::ldexp(1.0, -23), half = e.outBf16 ? std::ldexp(1.0, -8) : 0.0;
    {
        Checker cc{what}, cg{std::string(what) + " gelu out"};
        for (int m = 0; m < M; m++)
            for (long long n = 0; n < ldc; n++) {
                const size_t i = (size_t)m * ldc + n;
                if (n >= N) {
                    if (!C.untouched(C0, i)) failf("%s: C[%d][%lld] written outside N", what, m, n);
                    continue;
                }
                double s = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    double p = A(m, k) * B(k, (int)n);
                    s += p;
                    mag += std::fabs(p);
                }
                const int j = (int)n - e.col0;
                const bool inG = e.gelu != GELU_NONE && j >= 0 && j < e.cols;
                const double g = inG && e.gbias ? gb.at(j) : 0.0;
                double tol = gamma * mag;
                if (e.gelu == GELU_BWD && inG) {   // times gelu'(pre + gbias), itself fp32 to ~1e-6
                    const double gp = gelu_grad_ref(G0.at((size_t)m * ldg + j) + g, e.kind);
                    tol = tol * std::fabs(gp) + 2e-6 * std::fabs(s);
                    s *= gp;
                }
                double extra = 0;
                if (e.beta != 0) { s += e.beta * C0.at(i); extra += std::fabs(e.beta * C0.at(i)); }
                if (e.bias) { s += bias.at(n); extra += std::fabs(bias.at(n)); }
                if (e.res) {
                    double r = Rv.at((size_t)(m % e.resRows) * ldr + n);
                    s += r;
                    extra += std::fabs(r);
                }
                tol += gamma * extra;
                cc(i, C.at(i), s, tol + half * std::fabs(s));
                if (e.gelu == GELU_FWD && inG) {
                    double want = gelu_ref(s + g, e.kind);
                    cg((size_t)m * ldg + j, G.at((size_t)m * ldg + j), want,
                       1.2 * (tol + gamma * std::fabs(g)) + 1e-6 * (std::fabs(want) + 1) + half * std::fabs(want));
                }
            }
    }
    // gelu output: nothing outside [col0, col0 + cols) x M, nor in its padding (GELU_BWD reads it only)
    for (int m = 0; m < M; m++)
        for (long long j = 0; j < ldg; j++) {
            const size_t i = (size_t)m * ldg + j;
            bool written = e.gelu == GELU_FWD && j < e.cols && e.col0 + j < N;
            if (!written && !G.untouched(G0, i)) { failf("%s: gelu output [%d][%lld] written", what, m, j); return; }
        }
    if (e.dbias) {
        Checker cd{std::string(what) + " dbias"};
        for (int m = 0; m < M; m++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) { s += A(m, k); mag += std::fabs(A(m, k)); }
            if (e.beta != 0) { s += e.beta * dbias0[m]; mag += std::fabs(dbias0[m]); }
            cd((size_t)m, dbias[m], s, gamma * mag);
        }
    }
}

// Every epilogue on one form and shape.
void all_epilogues(Kernel kernel, int form, int M, int N, int K, bool unaligned = false) {
    const int mid = N / 3, cols = N - mid;   // a GELU range that starts inside a tile
    Epi e;
    run(kernel, form, M, N, K, e, unaligned);                                             // beta 0, fp32, nothing fused
    e = {}; e.beta = 1; e.bias = true; e.dbias = true;                 // accumulate, bias, bias gradient accumulated
    run(kernel, form, M, N, K, e, unaligned);
    e = {}; e.outBf16 = true; e.bias = true; e.res = true; e.resRows = 7; e.dbias = true;   // bf16, broadcast residual, dbias written
    run(kernel, form, M, N, K, e, unaligned);
    e = {}; e.outBf16 = true; e.bias = true; e.res = true; e.resInPlace = true; e.resRows = M;   // out-projection: x += ...
    run(kernel, form, M, N, K, e, unaligned);
    e = {}; e.outBf16 = true; e.gelu = GELU_FWD; e.kind = 0; e.col0 = mid; e.cols = cols; e.gbias = true;   // in-projection
    run(kernel, form, M, N, K, e, unaligned);
    e = {}; e.gelu = GELU_FWD; e.kind = 1; e.col0 = 0; e.cols = N; e.bias = true;   // exact GELU, every column, no gbias
    run(kernel, form, M, N, K, e, unaligned);
    e = {}; e.outBf16 = true; e.gelu = GELU_BWD; e.kind = 0; e.col0 = mid; e.cols = cols; e.gbias = true;   // dpre = dag * gelu'
    run(kernel, form, M, N, K, e, unaligned);
    e = {}; e.beta = 1; e.gelu = GELU_BWD; e.kind = 1; e.col0 = 0; e.cols = N;   // exact, accumulated
    run(kernel, form, M, N, K, e, unaligned);
}

// gemm_bf16_wgmma_qk, the in-projection with its epilogue fused (form NT, bf16): pre = y wIn^T (M = B N
// rows, N = col0 + 3 H hd columns) with GELU forward on [0, col0) (gbias) into ag (row stride col0 + 8),
// q and k normalised per head, v copied, head-major, stats (2, B, H, N, 2). pre against float64 of
// the bf16 inputs as run() checks it; the GELU output, q, k, v and the statistics against float64
// computed from the pre the kernel stored (the unfused path's input: misc.cu's gelu_cols_bf16 and
// norm.cu's qknorm_fwd read the rounded pre): the GELU to 1e-6 (|want| + 1) for the fp32 GELU plus
// one bf16 rounding, mean and rstd to 1e-5 relative, q and k to one bf16 rounding (2^-8 relative)
// plus 1e-5 for the fp32 statistics, v bitwise. Padding (pre's and ag's row tails, the head-major
// outputs beyond M) holds NaN and must stay so.
void run_qk(int B, int Ntok, int H, int hd, int col0, int K, bool centered, int geluKind) {
    const int M = B * Ntok, D = H * hd, N = col0 + 3 * D;
    const long long lda = (K + 7) / 8 * 8 + 8, ldc = (N + 7) / 8 * 8 + 8, ldg = col0 + 8;
    std::vector<uint16_t> a((size_t)M * lda, 0xffff), b((size_t)N * lda, 0xffff);
    for (int r = 0; r < M; r++) for (int c = 0; c < K; c++) a[(size_t)r * lda + c] = bf(uniform(1)[0]);
    for (int r = 0; r < N; r++) for (int c = 0; c < K; c++) b[(size_t)r * lda + c] = bf(uniform(1)[0]);
    std::vector<uint16_t> pre((size_t)M * ldc, 0xffff), ag((size_t)M * ldg, 0xffff), gb(std::max(col0, 8)), qs(hd), ks(hd);
    for (auto& x : gb) x = bf(uniform(1)[0]);
    for (auto& x : qs) x = bf(1 + 0.5 * uniform(1)[0]);
    for (auto& x : ks) x = bf(1 + 0.5 * uniform(1)[0]);
    const size_t hmSize = (size_t)M * D;
    std::vector<uint16_t> q(hmSize + 8, 0xffff), k(hmSize + 8, 0xffff), v(hmSize + 8, 0xffff);
    Buf<float> stats((size_t)2 * M * H * 2 + 2);
    std::fill(stats.v.begin(), stats.v.end(), NAN);
    const float eps = 1e-6f;
    CUtensorMap mapC;
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)pre.data(), M, N, ldc * 2, 2, 64, 64, CU_TENSOR_MAP_SWIZZLE_128B,
                              &mapC, err, sizeof err))
        failf("emu_encode_tensor_map (C): %s", err);
    launch("gemm_bf16_wgmma_qk", Dim{kWgCluster * std::min(kWgClusters, cdiv(N, kWgBN) * cdiv(cdiv(M, kWgBM), kWgCluster))},
           Dim{kWgThreads}, (unsigned)kWgQkSmem, bf16_map(a.data(), M, K, lda, kWgBM), bf16_map(b.data(), N, K, lda, kWgBN / kWgCluster),
           mapC, (uint16_t*)pre.data(), ldc, M, N, K, GELU_FWD, geluKind, 0, col0, (uint16_t*)ag.data(), ldg,
           (const uint16_t*)gb.data(), (const uint16_t*)qs.data(), (const uint16_t*)ks.data(), (uint16_t*)q.data(),
           (uint16_t*)k.data(), (uint16_t*)v.data(), stats.p(), col0, Ntok, H, hd, (int)centered, eps);
    char what[200];
    std::snprintf(what, sizeof what, "gemm_bf16_wgmma_qk B=%d N=%d H=%d hd=%d col0=%d K=%d %s gelu %d", B, Ntok, H, hd, col0, K,
                  centered ? "centered" : "rms", geluKind);
    const double gamma = (K + 8) * std::ldexp(1.0, -23), half = std::ldexp(1.0, -8);
    {
        Checker cp{std::string(what) + " pre"}, cg{std::string(what) + " gelu"};
        for (int m = 0; m < M; m++)
            for (long long n = 0; n < ldc; n++) {
                const size_t i = (size_t)m * ldc + n;
                if (n >= N) {
                    if (pre[i] != 0xffff) failf("%s: pre[%d][%lld] written outside N", what, m, n);
                    continue;
                }
                double s = 0, mag = 0;
                for (int kk = 0; kk < K; kk++) {
                    const double p = unbf(a[(size_t)m * lda + kk]) * unbf(b[(size_t)n * lda + kk]);
                    s += p;
                    mag += std::fabs(p);
                }
                cp(i, unbf(pre[i]), s, gamma * mag + half * std::fabs(s));
            }
        for (int m = 0; m < M; m++)
            for (long long j = 0; j < ldg; j++) {
                const size_t i = (size_t)m * ldg + j;
                if (j >= col0) {
                    if (ag[i] != 0xffff) failf("%s: ag[%d][%lld] written outside the GELU columns", what, m, j);
                    continue;
                }
                const double want = gelu_ref(unbf(pre[(size_t)m * ldc + j]) + unbf(gb[j]), geluKind);
                cg(i, unbf(ag[i]), want, 1e-6 * (std::fabs(want) + 1) + half * std::fabs(want));
            }
    }
    Checker cq{std::string(what) + " q/k"}, cs{std::string(what) + " stats"};
    for (int m = 0; m < M; m++)
        for (int h = 0; h < H; h++) {
            const size_t hm = (((size_t)(m / Ntok) * H + h) * Ntok + m % Ntok) * hd;
            for (int which = 0; which < 3; which++) {
                const uint16_t* x = pre.data() + (size_t)m * ldc + col0 + which * D + h * hd;
                if (which == 2) {
                    for (int d = 0; d < hd; d++)
                        if (v[hm + d] != x[d]) { failf("%s: v[%zu] = %04x, pre holds %04x", what, hm + d, v[hm + d], x[d]); return; }
                    continue;
                }
                double mean = 0, ss = 0;
                if (centered) { for (int d = 0; d < hd; d++) mean += unbf(x[d]); mean /= hd; }
                for (int d = 0; d < hd; d++) ss += (unbf(x[d]) - mean) * (unbf(x[d]) - mean);
                const double rstd = 1 / std::sqrt(ss / hd + eps);
                const size_t si = ((size_t)which * M * H + ((size_t)(m / Ntok) * H + h) * Ntok + m % Ntok) * 2;
                cs(si, stats[si], mean, 1e-5 * (std::fabs(mean) + 1e-3));
                cs(si + 1, stats[si + 1], rstd, 1e-5 * rstd);
                const uint16_t* sc = which ? ks.data() : qs.data();
                const uint16_t* out = (which ? k.data() : q.data()) + hm;
                for (int d = 0; d < hd; d++) {
                    const double want = (unbf(x[d]) - mean) * rstd * unbf(sc[d]);
                    cq(hm + d, unbf(out[d]), want, half * std::fabs(want) + 1e-5 * (std::fabs(want) + 1e-3));
                }
            }
        }
    for (size_t i = hmSize; i < hmSize + 8; i++)
        if (q[i] != 0xffff || k[i] != 0xffff || v[i] != 0xffff) failf("%s: q, k or v written past its end", what);
    if (!std::isnan(stats[stats.v.size() - 1]) || !std::isnan(stats[stats.v.size() - 2])) failf("%s: stats written past the end", what);
}

}  // namespace

// The epilogues on one block: K = 143 runs 5 tiles of 32 through the 4 stages (the ring wraps) and
// ends in a partial 32-step whose last 8-chunk has 7 elements (47 under the sanitizers: 2 tiles),
// so a chunk copied whole would read the NaN padding into the sum. The tile edges (M, N = 128 +- 1,
// several block rows and columns, K = 8, 129) are gemm_mma_tile_edges'.
TEST(gemm_mma_nt_epilogues) { all_epilogues(MMA, NT, sanitized() ? 67 : 70, sanitized() ? 45 : 75, sanitized() ? 47 : 143); }
TEST(gemm_mma_nn_epilogues) { all_epilogues(MMA, NN, sanitized() ? 67 : 70, sanitized() ? 45 : 75, sanitized() ? 47 : 143); }
TEST(gemm_mma_tn_epilogues) { all_epilogues(MMA, TN, 71, sanitized() ? 45 : 79, sanitized() ? 47 : 143); }

// Every form at each shape (M, N, K) with bias, a bf16 output in NN and the bias gradient in TN;
// under the sanitizers only the shapes of at most sanitizedMax multiply-adds.
template <size_t S> void tile_edges(Kernel kernel, const int (&shapes)[S][3], long sanitizedMax) {
    for (auto& s : shapes)
        for (int form = 0; form < 3; form++) {
            if (sanitized() && (long)s[0] * s[1] * s[2] > sanitizedMax) continue;
            Epi e;
            e.outBf16 = form == NN;
            e.bias = true;
            e.dbias = form == TN;
            run(kernel, form, s[0], s[1], s[2], e);
        }
}

TEST(gemm_mma_tile_edges) {
    const int shapes[][3] = {{1, 1, 1}, {127, 129, 8}, {129, 127, 33}, {7, 13, 129}, {128, 128, 128}, {257, 3, 97}};
    tile_edges(MMA, shapes, 300000);
}

// gemm_bf16_wgmma (C through the staging sub-tile and the TMA store; C's padding holds NaN, so a store
// not clipped at M or N shows): the epilogues on one 128 x 256 block whose K = 200 runs 4 k-tiles of 64 (the last
// partial: TMA's zero fill; the cluster's second CTA has no rows), then the tile edges: M, N one past
// a block (129, 257: the second block row and column hold one row / column; 2 pairs on 2 clusters),
// K through the 4-stage ring and around (K = 320: 5 tiles, the ring wraps) and K below one tile
// (K = 9), odd tile rows (M = 300 and 520: 3 and 5 rows, the last pair's second CTA past M) with 6
// pairs on 2 clusters, so each runs three and its ring and barrier phases carry over; N > 128
// throughout the edges, so the half of B each CTA multicasts is used by both (a box landing in one
// CTA only leaves NaN in the other's, or its barrier short of bytes: a deadlock), in every form. The
// emulator runs each of the 384 threads of both CTAs of a cluster as a fiber, so the shapes are
// small; the sanitizer builds run fewer.
TEST(gemm_wgmma_epilogues) {
    for (int form = 0; form < 3; form++) {
        if (sanitized() && form != TN) continue;
        all_epilogues(WGMMA, form, sanitized() ? 67 : 70, sanitized() ? 45 : 75, sanitized() ? 70 : 200);
    }
}

// C stored directly (a row stride of N + 5 elements: no tensor map), every epilogue in NT and TN (fp32
// and bf16 outputs, a residual in place, GELU forward and backward), and two tile edges.
TEST(gemm_wgmma_direct_store) {
    for (int form : {NT, TN}) {
        if (sanitized() && form != TN) continue;
        all_epilogues(WGMMA, form, sanitized() ? 67 : 70, sanitized() ? 45 : 75, sanitized() ? 70 : 130, true);
    }
    if (sanitized()) return;
    Epi e;
    e.outBf16 = true; e.bias = true;
    run(WGMMA, NN, 129, 257, 72, e, true);
    e = {}; e.beta = 1; e.dbias = true;
    run(WGMMA, TN, 200, 13, 40, e, true);
}

TEST(gemm_wgmma_tile_edges) {
    const int shapes[][3] = {{1, 1, 1}, {129, 257, 320}, {7, 300, 9}, {200, 13, 72}, {300, 520, 40}, {520, 300, 136}};
    tile_edges(WGMMA, shapes, 30000);
}

// The element-wise operand loads (vecLoads 0): every epilogue on odd strides and misaligned operands,
// and the tile edges, including a 10-column head's gradients (N = 10 in NN, M = 10 in TN). Smaller
// under the sanitizers (the loads are the only difference from the cp.async path).
TEST(gemm_mma_unaligned_epilogues) {
    for (int form = 0; form < 3; form++) {
        if (!sanitized()) { all_epilogues(MMA, form, 70, 75, 71, true); continue; }
        Epi e;   // the sanitizers: two epilogues (the loads do not depend on them), one block
        e.beta = 1; e.bias = true; e.dbias = true;
        run(MMA, form, 33, 19, 37, e, true);
        e = {}; e.outBf16 = true; e.bias = true; e.res = true; e.resInPlace = true; e.resRows = 33;
        run(MMA, form, 33, 19, 37, e, true);
    }
}

TEST(gemm_mma_unaligned_tile_edges) {
    const int shapes[][3] = {{1, 1, 1}, {129, 10, 33}, {10, 131, 45}, {130, 127, 9}};
    for (auto& s : shapes)
        for (int form = 0; form < 3; form++) {
            if (sanitized() && s[0] * s[1] * s[2] > 60000) continue;   // the plain run has them all
            Epi e;
            e.outBf16 = form != TN;
            e.bias = true;
            e.beta = form == TN ? 1.0f : 0.0f;
            e.dbias = form == TN;
            run(MMA, form, s[0], s[1], s[2], e, true);
        }
}

// The fused in-projection: hd 64 (four heads a tile, q from the middle of the first tile; M = 129: a
// second tile row of one row, N = 576: a last tile of 64 columns), hd 128 (two heads a tile, q at a
// tile edge), hd 256 (a head a tile), centered and not, both GELU kinds; M = 3 x 43 and 2 x 37 rows
// (images end mid-tile), several pairs per cluster (the ring's phases and the staging carry over).
TEST(gemm_wgmma_qk) {
    run_qk(3, 43, 2, 64, 192, 40, true, 0);
    if (sanitized()) return;
    run_qk(3, 43, 2, 128, 128, 72, false, 1);
    run_qk(2, 37, 1, 256, 256, 24, true, 0);
    run_qk(2, 100, 3, 64, 64, 136, false, 0);
}
