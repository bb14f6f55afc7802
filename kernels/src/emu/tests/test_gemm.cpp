// gemm_f32 (every epilogue, every stride layout, tile edges) against naive float64.
#include "harness.h"

using namespace t;

namespace {

struct GemmCase {
    int M, N, K;
    bool aT, bT;          // A stored k-major (sam = 1), B stored n-major... see strides below
    float beta;
    bool bias, res, gbias;
    int resRows, geluCols, geluKind;
};

void run_gemm_f32(const GemmCase& c) {
    const int M = c.M, N = c.N, K = c.K;
    // A(m,k) = A[m*sam + k*sak], B(k,n) = B[k*sbk + n*sbn]; padded leading dimensions.
    const long long lda = (c.aT ? M : K) + 3, ldb = (c.bT ? K : N) + 5;
    const long long sam = c.aT ? 1 : lda, sak = c.aT ? lda : 1;
    const long long sbk = c.bT ? 1 : ldb, sbn = c.bT ? ldb : 1;
    auto a = uniform((size_t)lda * (c.aT ? K : M)), b = uniform((size_t)ldb * (c.bT ? N : K));
    // C is a column slice: columns [off, off + N) of a (M x ldc) matrix.
    const long long ldc = N + 7, off = 3;
    auto c0 = uniform((size_t)M * ldc);
    auto bias = uniform(N), gb = uniform(N);
    const long long ldr = N + 2;
    auto res = uniform((size_t)c.resRows * ldr);
    const long long ldg = c.geluCols + 4;
    Buf<float> A = buf(a), B = buf(b), C = buf(c0), Bias = buf(bias), Gb = buf(gb), Res = buf(res);
    Buf<float> G((size_t)M * ldg);
    std::vector<float> g0 = G.v;
    launch("gemm_f32", Dim{cdiv(N, 128), cdiv(M, 128)}, Dim{256}, 0u, A.p(), sam, sak, B.p(), sbk, sbn, C.p() + off, ldc,
           M, N, K, c.beta, c.bias ? Bias.p() : (float*)nullptr, c.res ? Res.p() : (float*)nullptr, ldr, c.resRows,
           c.geluCols ? G.p() : (float*)nullptr, ldg, c.geluCols, c.gbias ? Gb.p() : (float*)nullptr, c.geluKind);
    std::vector<double> want((size_t)M * ldc), gwant((size_t)M * ldg);
    std::vector<float> got((size_t)M * ldc), ggot((size_t)M * ldg);
    for (int m = 0; m < M; m++)
        for (long long j = 0; j < ldc; j++) {
            size_t i = (size_t)m * ldc + j;
            got[i] = C[i];
            long long n = j - off;
            if (n < 0 || n >= N) { want[i] = c0[i]; continue; }   // outside the slice: untouched
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[m * sam + k * sak] * b[k * sbk + n * sbn];
            if (c.beta != 0) s += c0[i];
            if (c.bias) s += bias[n];
            if (c.res) s += res[(size_t)(m % c.resRows) * ldr + n];
            want[i] = s;
            if (n < c.geluCols) gwant[(size_t)m * ldg + n] = gelu_ref(c.gbias ? s + gb[n] : s, c.geluKind);
        }
    char what[160];
    std::snprintf(what, sizeof what, "gemm_f32 M=%d N=%d K=%d aT=%d bT=%d beta=%g bias=%d res=%d/%d gelu=%d/%d", M, N, K,
                  c.aT, c.bT, c.beta, c.bias, c.res, c.resRows, c.geluCols, c.geluKind);
    close(what, got, want, 1e-5, 1e-5);
    if (c.geluCols) {
        for (int m = 0; m < M; m++)
            for (long long j = 0; j < ldg; j++) {
                size_t i = (size_t)m * ldg + j;
                ggot[i] = G[i];
                if (j >= c.geluCols) gwant[i] = g0[i];
            }
        // gout beyond geluCols keeps its NaN bytes: compare those bitwise.
        for (int m = 0; m < M; m++)
            for (long long j = c.geluCols; j < ldg; j++)
                if (std::memcmp(&ggot[(size_t)m * ldg + j], &g0[(size_t)m * ldg + j], 4) != 0)
                    failf("%s: gout[%d][%lld] written beyond geluCols", what, m, j);
        for (int m = 0; m < M; m++)
            for (long long j = c.geluCols; j < ldg; j++) { ggot[(size_t)m * ldg + j] = 0; gwant[(size_t)m * ldg + j] = 0; }
        std::string gw = std::string(what) + " gout";
        close(gw.c_str(), ggot, gwant, 1e-5, 1e-5);
    }
}

}  // namespace

TEST(gemm_f32_layouts) {
    // Every combination of A / B major-ness, M, N across the 128 tile edge, K off the 16 step.
    for (int aT = 0; aT < 2; aT++)
        for (int bT = 0; bT < 2; bT++) run_gemm_f32({130, 131, 37, (bool)aT, (bool)bT, 0.0f, false, false, false, 1, 0, 0});
}

TEST(gemm_f32_edges) {
    run_gemm_f32({1, 1, 1, false, false, 0.0f, false, false, false, 1, 0, 0});
    run_gemm_f32({129, 3, 16, false, true, 0.0f, false, false, false, 1, 0, 0});
    run_gemm_f32({5, 257, 17, true, false, 0.0f, false, false, false, 1, 0, 0});
}

TEST(gemm_f32_epilogues) {
    run_gemm_f32({67, 140, 33, false, false, 1.0f, true, true, false, 67, 0, 0});        // beta, bias, residual
    run_gemm_f32({67, 140, 33, true, true, 0.0f, false, true, true, 7, 50, 0});         // broadcast residual, GELU tanh + gbias
    run_gemm_f32({130, 45, 20, false, true, 0.5f, true, false, false, 1, 45, 1});       // beta 0.5, GELU exact, all columns
    run_gemm_f32({40, 129, 48, true, false, 0.0f, true, true, true, 40, 129, 1});       // everything on, every column
}
