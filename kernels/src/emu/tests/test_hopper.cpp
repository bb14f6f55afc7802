// The emulator's Hopper machinery (emu/hopper.h, the API of HOPPER_API.md) against references
// written here from the PTX ISA and the CUDA guide, independently of hopper.cpp: mbarrier phases
// and parity with several producers and consumers, TMA box loads (out-of-bounds zero fill, each
// swizzle mode) and stores, wgmma m64nNk16 (N = 64, 128, 256; K-major and MN-major operands in
// 128B-swizzled tiles laid down by TMA; A from registers in the ISA's fragment) against float64
// products, named barriers (warpgroup ping-pong, producer/consumer) and the errors: deadlock,
// use before init, surplus arrivals, incomplete warpgroups, accumulators read in flight, named
// barrier misuse (ids, thread counts, double arrivals, episodes left open). Clusters:
// a multicast ring whose sums are wrong unless every box lands in every CTA at its slot and a stage
// is refilled only after every CTA's consumers released it (remote arrivals), and the cluster errors
// (no cluster_sync between mbar_init and remote use, ranks and masks outside the cluster, a peer
// that exited, cluster deadlock, static shared memory, grids that are no multiple of the cluster).
#include <cuda_runtime.h>

#include "common.cuh"   // DYNAMIC_SHARED
#include "emu/hopper.h"
#include "harness.h"
#include "run_local.h"

using namespace t;

namespace {

// ---- host helpers

uint16_t to_bf16(float f) {   // round to nearest even (finite inputs)
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
double from_bf16(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
std::vector<uint16_t> random_bf16(size_t n) {
    std::vector<uint16_t> v(n);
    const std::vector<float> f = uniform(n);
    for (size_t i = 0; i < n; i++) v[i] = to_bf16(f[i]);
    return v;
}
CUtensorMap make_map(const void* base, size_t rows, size_t cols, size_t stride, unsigned elem, unsigned box_rows,
                     unsigned box_cols, unsigned swizzle) {
    CUtensorMap m;
    char err[256] = "";
    if (emu_encode_tensor_map((unsigned long long)(uintptr_t)base, rows, cols, stride, elem, box_rows, box_cols, swizzle, &m,
                              err, sizeof err))
        failf("emu_encode_tensor_map: %s", err);
    return m;
}
// Where TMA puts byte o of the unswizzled box image (CUDA programming guide, TMA swizzle): the image
// is cut into rows of the span S (32, 64 or 128 bytes); in row r the 16-byte chunk j moves to
// j ^ ((r / (128 / S)) % (S / 16)), the pattern repeating every 8 lines of 128 bytes.
size_t swizzled(size_t o, unsigned span) {
    if (!span) return o;
    const size_t r = o / span, j = (o % span) / 16;
    const size_t jj = j ^ ((r / (128 / span)) % (span / 16));
    return r * span + jj * 16 + o % 16;
}
unsigned span_of(unsigned cu_swizzle) { return cu_swizzle == 0 ? 0 : 16u << cu_swizzle; }

// ---- mbarriers

constexpr int kProducers = 3, kConsumers = 5, kRounds = 6;

// Producers (threads 0, 40, 77: different warps) each write one value of a slot per round and
// arrive on `full`; consumers (threads 100 + 20c) wait for the round's phase of `full`, sum the
// slot, arrive on `empty`; producers wait for `empty` before overwriting the slot. Parities: round
// r waits for phase r of full (parity r & 1), and for phase r - 1 of empty (parity (r & 1) ^ 1,
// which the fresh barrier counts as complete in round 0).
__global__ void mbar_ring(float* out) {
    __shared__ uint64_t full, empty;
    __shared__ float slot[kProducers];
    const int t = threadIdx.x;
    if (t == 0) {
        mbar_init(&full, kProducers);
        mbar_init(&empty, kConsumers);
        mbar_fence_init();
    }
    __syncthreads();
    const int producers[kProducers] = {0, 40, 77};
    for (int p = 0; p < kProducers; p++)
        if (t == producers[p])
            for (int r = 0; r < kRounds; r++) {
                mbar_wait(&empty, (r & 1) ^ 1);
                slot[p] = 10.0f * r + p;
                mbar_arrive(&full);
            }
    for (int c = 0; c < kConsumers; c++)
        if (t == 100 + 20 * c) {
            float s = 0;
            for (int r = 0; r < kRounds; r++) {
                mbar_wait(&full, r & 1);
                for (int p = 0; p < kProducers; p++) s += slot[p] * (r + 1);
                mbar_arrive(&empty);
            }
            out[blockIdx.x * kConsumers + c] = s;
        }
}
__global__ void mbar_stale_parity(float* out) {   // parity 1 on a fresh barrier: phase -1 is complete
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) mbar_init(&bar, 2);
    __syncthreads();
    mbar_wait(&bar, 1);
    out[threadIdx.x] = 1;
}
__global__ void mbar_never_arrives(float* out) {
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) mbar_init(&bar, 33);   // one more arrival than the 32 threads make
    __syncthreads();
    mbar_arrive(&bar);
    mbar_wait(&bar, 0);
    out[threadIdx.x] = 1;
}
__global__ void mbar_uninitialised(float* out) {
    __shared__ uint64_t bar;
    mbar_arrive(&bar);
    out[threadIdx.x] = 1;
}
__global__ void mbar_surplus(float* out) {
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) {
        mbar_init(&bar, 1);
        mbar_arrive_expect_tx(&bar, 64);   // pending reaches 0, the phase waits for 64 tx bytes
        mbar_arrive(&bar);                 // a second arrival in the same phase
    }
    out[threadIdx.x] = 1;
}

TEST(hopper_mbarrier_phases) {
    Buf<float> out(2 * kConsumers);
    expect_ok(RUN(mbar_ring, Dim{2}, Dim{192}, 0u, out.p()), "mbarrier ring");
    double want = 0;
    for (int r = 0; r < kRounds; r++)
        for (int p = 0; p < kProducers; p++) want += (10.0 * r + p) * (r + 1);
    for (int c = 0; c < 2 * kConsumers; c++)
        if (out[c] != want) failf("consumer %d summed %g, want %g (a round read a stale or early slot)", c, out[c], want);
    Buf<float> o2(64);
    expect_ok(RUN(mbar_stale_parity, Dim{1}, Dim{64}, 0u, o2.p()), "wait on parity 1 of a fresh barrier");
    expect_error(RUN(mbar_never_arrives, Dim{3}, Dim{32}, 0u, o2.p()),
                 "mbar_never_arrives block (0,0,0) deadlock: thread (0,0,0) waits at mbar_wait (test_hopper.cpp", "deadlock");
    expect_error(RUN(mbar_uninitialised, Dim{1}, Dim{32}, 0u, o2.p()), "not initialised", "use before mbar_init");
    expect_error(RUN(mbar_surplus, Dim{1}, Dim{32}, 0u, o2.p()), "more arrivals than the mbarrier's count (1)", "surplus arrival");
}

// ---- TMA

// Thread `producer` loads one box with TMA; everyone waits on the barrier (unless `wait` is 0: the
// race test), then copies the box's shared bytes out as they lie (swizzled).
__global__ void tma_load_box(const __grid_constant__ CUtensorMap map, int x, int y, unsigned bytes, unsigned char* out,
                             int producer, int wait) {
    DYNAMIC_SHARED(unsigned char, box);
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) {
        mbar_init(&bar, 1);
        mbar_fence_init();
    }
    __syncthreads();
    if (threadIdx.x == producer) {
        mbar_arrive_expect_tx(&bar, bytes);
        tma_load_2d(box, &map, x, y, &bar);
    }
    if (wait) mbar_wait(&bar, 0);
    for (unsigned i = threadIdx.x; i < bytes; i += blockDim.x) out[i] = box[i];
}
// The threads write a box image (already in its shared-memory order) and thread 0 stores it with TMA,
// or reduce-adds it (REDUCE: every block adds the same image).
template <bool REDUCE>
__global__ void tma_write_box(const __grid_constant__ CUtensorMap map, int x, int y, unsigned bytes, const unsigned char* image) {
    DYNAMIC_SHARED(unsigned char, box);
    for (unsigned i = threadIdx.x; i < bytes; i += blockDim.x) box[i] = image[i];
    fence_proxy_async();
    __syncthreads();
    if (threadIdx.x == 0) {
        if (REDUCE) tma_reduce_add_2d(&map, box, x, y);
        else tma_store_2d(&map, box, x, y);
        tma_store_commit();
        tma_store_wait();
    }
}

struct BoxCase {
    unsigned elem, box_rows, box_cols, swizzle;
    int x, y;
};

TEST(hopper_tma_boxes) {
    const size_t rows = 50, cols = 150;   // stride padded past the row: 16-byte multiple
    const BoxCase cases[] = {
        {2, 16, 64, 3, 8, 4},     {2, 16, 64, 3, -24, -5},  {2, 16, 64, 3, 120, 40},  // 128B, interior / before / past the edges
        {2, 12, 32, 3, 100, 0},   {2, 16, 32, 2, 30, 38},   {2, 16, 32, 2, -8, 45},   // 64-byte rows in the 128B span; 64B
        {2, 24, 16, 1, 140, -3},  {2, 8, 24, 0, 131, 10},   {4, 16, 32, 3, 125, 44},  // 32B; none (48-byte rows); fp32 128B
        {4, 9, 8, 1, -3, 20},
    };
    for (const BoxCase& bc : cases) {
        const size_t stride = (cols * bc.elem + 31) / 32 * 32;
        std::vector<unsigned char> g(rows * stride);
        for (auto& b : g) b = (unsigned char)(rng()() | 1);   // nonzero: a zero-filled byte is told apart
        const CUtensorMap map = make_map(g.data(), rows, cols, stride, bc.elem, bc.box_rows, bc.box_cols, bc.swizzle);
        const unsigned row_bytes = bc.box_cols * bc.elem, bytes = bc.box_rows * row_bytes;
        const unsigned smem = (bytes + 1023) / 1024 * 1024;
        std::vector<unsigned char> want(bytes);
        for (unsigned r = 0; r < bc.box_rows; r++)
            for (unsigned c = 0; c < bc.box_cols; c++) {
                const long long gy = (long long)bc.y + r, gx = (long long)bc.x + c;
                const bool in = gy >= 0 && gx >= 0 && gy < (long long)rows && gx < (long long)cols;
                const size_t at = swizzled(r * row_bytes + c * bc.elem, span_of(bc.swizzle));
                for (unsigned e = 0; e < bc.elem; e++) want[at + e] = in ? g[gy * stride + gx * bc.elem + e] : 0;
            }
        char what[128];
        std::snprintf(what, sizeof what, "TMA load %ub %ux%u swizzle %u at (%d,%d)", bc.elem, bc.box_rows, bc.box_cols, bc.swizzle,
                      bc.x, bc.y);
        std::vector<unsigned char> got(bytes, 0xee);
        expect_ok(RUN(tma_load_box, Dim{1}, Dim{96}, smem, map, bc.x, bc.y, bytes, got.data(), 0, 1), what);
        for (unsigned i = 0; i < bytes; i++)
            if (got[i] != want[i]) {
                failf("%s: shared byte %u is %u, want %u", what, i, got[i], want[i]);
                break;
            }
        // Store: a fresh image in shared-memory order goes back to a sentinel-filled matrix; only the
        // in-bounds part of the box is written, from the image's swizzled positions.
        std::vector<unsigned char> image(bytes), dst(rows * stride, 0xa5);
        for (auto& b : image) b = (unsigned char)rng()();
        const CUtensorMap out = make_map(dst.data(), rows, cols, stride, bc.elem, bc.box_rows, bc.box_cols, bc.swizzle);
        std::snprintf(what, sizeof what, "TMA store %ub %ux%u swizzle %u at (%d,%d)", bc.elem, bc.box_rows, bc.box_cols, bc.swizzle,
                      bc.x, bc.y);
        expect_ok(run_k<&tma_write_box<false>>("tma_store_box", 1u, Dim{1}, Dim{64}, smem, out, bc.x, bc.y, bytes, (const unsigned char*)image.data()), what);
        std::vector<unsigned char> expect(rows * stride, 0xa5);
        for (unsigned r = 0; r < bc.box_rows; r++)
            for (unsigned c = 0; c < bc.box_cols; c++) {
                const long long gy = (long long)bc.y + r, gx = (long long)bc.x + c;
                if (gy < 0 || gx < 0 || gy >= (long long)rows || gx >= (long long)cols) continue;
                const size_t at = swizzled(r * row_bytes + c * bc.elem, span_of(bc.swizzle));
                for (unsigned e = 0; e < bc.elem; e++) expect[gy * stride + gx * bc.elem + e] = image[at + e];
            }
        for (size_t i = 0; i < dst.size(); i++)
            if (dst[i] != expect[i]) {
                failf("%s: global byte %zu (row %zu) is %u, want %u", what, i, i / stride, dst[i], expect[i]);
                break;
            }
    }
}

// TMA reduce-add (fp32): 5 blocks add the same box into a matrix of random integers (sums exact in
// any order); in-bounds elements gain 5x the image's value from its swizzled position, the rest of
// the padded matrix keeps its sentinel. A bf16 map is refused.
TEST(hopper_tma_reduce_add) {
    const size_t rows = 40, cols = 70, stride = 72 * 4;
    const BoxCase cases[] = {{4, 16, 32, 3, 48, 30}, {4, 16, 32, 3, -8, -3}, {4, 9, 8, 0, 65, 2}, {4, 64, 32, 3, 0, 0}};
    for (const BoxCase& bc : cases) {
        std::vector<float> g(rows * stride / 4);
        for (auto& v : g) v = (float)((long long)(rng()() % 2001) - 1000);
        const std::vector<float> g0 = g;
        const unsigned row_bytes = bc.box_cols * 4, bytes = bc.box_rows * row_bytes;
        std::vector<float> image(bytes / 4);
        for (auto& v : image) v = (float)((long long)(rng()() % 201) - 100) * 0.5f;
        const CUtensorMap map = make_map(g.data(), rows, cols, stride, 4, bc.box_rows, bc.box_cols, bc.swizzle);
        char what[128];
        std::snprintf(what, sizeof what, "TMA reduce-add %ux%u swizzle %u at (%d,%d)", bc.box_rows, bc.box_cols, bc.swizzle, bc.x, bc.y);
        expect_ok(run_k<&tma_write_box<true>>("tma_reduce_box", 1u, Dim{5}, Dim{64}, (bytes + 1023) / 1024 * 1024, map, bc.x, bc.y, bytes,
                      (const unsigned char*)image.data()), what);
        std::vector<float> want = g0;
        for (unsigned r = 0; r < bc.box_rows; r++)
            for (unsigned c = 0; c < bc.box_cols; c++) {
                const long long gy = (long long)bc.y + r, gx = (long long)bc.x + c;
                if (gy < 0 || gx < 0 || gy >= (long long)rows || gx >= (long long)cols) continue;
                want[gy * (stride / 4) + gx] += 5 * image[swizzled(r * row_bytes + c * 4, span_of(bc.swizzle)) / 4];
            }
        for (size_t i = 0; i < g.size(); i++)
            if (g[i] != want[i]) {
                failf("%s: element %zu (row %zu, col %zu) is %g, want %g", what, i, i / (stride / 4), i % (stride / 4), g[i], want[i]);
                break;
            }
    }
    std::vector<uint16_t> h(64 * 64);
    const CUtensorMap bf = make_map(h.data(), 64, 64, 128, 2, 8, 64, 3);
    std::vector<unsigned char> image(1024);
    expect_error(run_k<&tma_write_box<true>>("tma_reduce_box", 1u, Dim{1}, Dim{32}, 1024, bf, 0, 0, 1024u, (const unsigned char*)image.data()),
                 "fp32 maps only", "a bf16 reduce-add");
}

// A race the suite must catch: reading a TMA destination without waiting for its barrier. The
// producer is a middle thread, so under every schedule some readers run before the copy lands
// (they read NaN bytes); TSan reports the unordered copy (run-tests.sh expects the report).
TEST(race_tma_without_mbar_wait) {
    const size_t rows = 64, cols = 64;
    std::vector<uint16_t> g = random_bf16(rows * cols);
    const CUtensorMap map = make_map(g.data(), rows, cols, cols * 2, 2, 64, 64, 3);
    const unsigned bytes = 64 * 128;
    std::vector<unsigned char> waited(bytes), raced(bytes);
    expect_ok(RUN(tma_load_box, Dim{1}, Dim{128}, bytes, map, 0, 0, bytes, waited.data(), 64, 1), "TMA with mbar_wait");
    expect_ok(RUN(tma_load_box, Dim{1}, Dim{128}, bytes, map, 0, 0, bytes, raced.data(), 64, 0), "TMA without mbar_wait");
    for (unsigned r = 0; r < 64; r++)
        for (unsigned c = 0; c < 64; c++) {
            uint16_t v;
            std::memcpy(&v, &waited[swizzled(r * 128 + c * 2, 128)], 2);
            if (v != g[r * cols + c]) {
                failf("TMA with mbar_wait: element (%u, %u) is %04x, want %04x", r, c, v, g[r * cols + c]);
                r = 64;
                break;
            }
        }
    if (raced == waited) failf("schedule %d: reading a TMA destination without mbar_wait went unnoticed", schedule());
}

TEST(hopper_tensor_map_checks) {
    alignas(16) static unsigned char g[4096];
    char err[256];
    CUtensorMap m;
    struct Bad { unsigned long long addr, rows, cols, stride; unsigned elem, br, bc, sw; const char* says; };
    const Bad bad[] = {
        {(unsigned long long)(uintptr_t)g, 16, 64, 120, 2, 8, 64, 3, "not a multiple of 16"},
        {(unsigned long long)(uintptr_t)g + 8, 16, 64, 128, 2, 8, 64, 3, "not 16-byte aligned"},
        {(unsigned long long)(uintptr_t)g, 16, 64, 128, 2, 8, 128, 3, "exceeds the 128-byte swizzle span"},
        {(unsigned long long)(uintptr_t)g, 16, 64, 128, 2, 300, 64, 0, "each 1 .. 256"},
        {(unsigned long long)(uintptr_t)g, 16, 64, 128, 2, 8, 12, 0, "not a multiple of 16"},
        {(unsigned long long)(uintptr_t)g, 16, 64, 64, 2, 8, 32, 0, "shorter than a row"},
        {(unsigned long long)(uintptr_t)g, 16, 64, 128, 3, 8, 16, 0, "element size"},
    };
    for (const Bad& b : bad) {
        err[0] = 0;
        if (!emu_encode_tensor_map(b.addr, b.rows, b.cols, b.stride, b.elem, b.br, b.bc, b.sw, &m, err, sizeof err))
            failf("tensor map accepted, should fail with \"%s\"", b.says);
        else if (!std::strstr(err, b.says)) failf("tensor map error \"%s\" lacks \"%s\"", err, b.says);
    }
}

// ---- wgmma

// A (64 x 64, bf16) and B (64 x N) land in shared memory by TMA, 128B-swizzled: K-major A is a box of
// A (M x K row-major: 64 rows of 128 bytes); MN-major A a box of A^T (K x M); K-major B a box of B^T
// (N x K); MN-major B boxes of B (K x N), 64 columns (128 bytes) each, 8 KB apart. Each warpgroup of
// the block runs four wgmma k16 steps, commits, waits and writes its accumulator fragment.
constexpr int kK = 64;
template <int N, int TA, int TB>
__global__ void wgmma_tile(const __grid_constant__ CUtensorMap ma, const __grid_constant__ CUtensorMap mb, float* out) {
    DYNAMIC_SHARED(unsigned char, sm);
    unsigned char* a = sm;              // 8 KB
    unsigned char* b = sm + 64 * 128;   // N x 128 bytes
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) {
        mbar_init(&bar, 1);
        mbar_fence_init();
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        mbar_arrive_expect_tx(&bar, (64 + N) * kK * 2);
        tma_load_2d(a, &ma, 0, 0, &bar);
        if (TB) for (int j = 0; j < N / 64; j++) tma_load_2d(b + j * 8192, &mb, 64 * j, 0, &bar);
        else tma_load_2d(b, &mb, 0, 0, &bar);
    }
    mbar_wait(&bar, 0);
    float d[N / 2];
    for (int ks = 0; ks < kK / 16; ks++) {
        // K-major: the next 16 k are 32 bytes along the swizzled 128-byte rows (SBO: 8 rows, 1024 bytes);
        // MN-major: 16 rows of 128 bytes further (SBO: 8 k rows; LBO: the next 64 columns of B, 8 KB).
        const uint64_t da = TA ? wgmma_desc(a + ks * 2048, WG_SWIZZLE_128B, 8192, 1024) : wgmma_desc(a + ks * 32, WG_SWIZZLE_128B, 16, 1024);
        const uint64_t db = TB ? wgmma_desc(b + ks * 2048, WG_SWIZZLE_128B, 8192, 1024) : wgmma_desc(b + ks * 32, WG_SWIZZLE_128B, 16, 1024);
        wgmma_fence();
        wgmma_bf16<N, TA, TB>(d, da, db, ks > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    // The accumulator fragment as HOPPER_API.md states it.
    const int wg = threadIdx.x / 128, l = threadIdx.x % 128, w = l / 32, g = (l % 32) / 4, t4 = l % 4;
    for (int j = 0; j < N / 8; j++)
        for (int h = 0; h < 2; h++)
            for (int e = 0; e < 2; e++) out[(size_t)wg * 64 * N + (16 * w + g + 8 * h) * N + 8 * j + 2 * t4 + e] = d[4 * j + 2 * h + e];
}

template <int N, int TA, int TB> void check_wgmma(int warpgroups) {
    const std::vector<uint16_t> A = random_bf16(64 * kK), B = random_bf16((size_t)kK * N);   // A[m][k], B[k][n]
    std::vector<uint16_t> At(kK * 64), Bt((size_t)N * kK);
    for (int m = 0; m < 64; m++)
        for (int k = 0; k < kK; k++) At[k * 64 + m] = A[m * kK + k];
    for (int k = 0; k < kK; k++)
        for (int n = 0; n < N; n++) Bt[(size_t)n * kK + k] = B[(size_t)k * N + n];
    const CUtensorMap ma = TA ? make_map(At.data(), kK, 64, 128, 2, kK, 64, 3) : make_map(A.data(), 64, kK, kK * 2, 2, 64, kK, 3);
    const CUtensorMap mb = TB ? make_map(B.data(), kK, N, N * 2, 2, kK, 64, 3) : make_map(Bt.data(), N, kK, kK * 2, 2, N, kK, 3);
    std::vector<double> want((size_t)warpgroups * 64 * N);
    for (int m = 0; m < 64; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < kK; k++) s += from_bf16(A[m * kK + k]) * from_bf16(B[(size_t)k * N + n]);
            for (int wg = 0; wg < warpgroups; wg++) want[(size_t)wg * 64 * N + m * N + n] = s;
        }
    Buf<float> out(want.size());
    char what[96];
    std::snprintf(what, sizeof what, "wgmma m64n%dk16 trans-a %d trans-b %d, %d warpgroup(s)", N, TA, TB, warpgroups);
    expect_ok(run_k<&wgmma_tile<N, TA, TB>>("wgmma_tile", 1u, Dim{1}, Dim{128u * warpgroups}, (unsigned)(64 + N) * 128, ma, mb, out.p()), what);
    // Products are exact and summed in double, rounded once: fp32 rounding only.
    close(what, out.p(), want.data(), want.size(), 1e-6, 1e-6);
}

TEST(hopper_wgmma_products) {
    check_wgmma<64, 0, 0>(2);
    check_wgmma<64, 1, 1>(1);
    check_wgmma<128, 0, 1>(1);
    check_wgmma<128, 1, 0>(2);
    check_wgmma<256, 0, 0>(1);
    check_wgmma<256, 1, 1>(1);
    if (!sanitized()) {
        check_wgmma<128, 0, 0>(1);
        check_wgmma<256, 0, 1>(1);
        check_wgmma<256, 1, 0>(1);
    }
}

// Every layout the descriptors describe, laid down by TMA boxes: K-major and MN-major operands with
// no swizzle (8x8 core matrices, one 128-byte box each), 32B and 64B swizzle, any N (multiple of 8).
// The host plans the boxes and descriptors from the ISA's canonical layouts; the kernel issues them.
struct Load { int op, x, y; unsigned off; };
struct Plan {
    int nloads, ksteps, mode;   // mode: the descriptor's swizzle field
    unsigned tx, b_base;
    Load loads[96];
    unsigned a_off[4], b_off[4], lbo[2], sbo[2];
};
template <int N, int TA, int TB>
__global__ void wgmma_planned(const __grid_constant__ CUtensorMap ma, const __grid_constant__ CUtensorMap mb, const Plan* plan,
                              float* out) {
    DYNAMIC_SHARED(unsigned char, sm);
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) {
        mbar_init(&bar, 1);
        mbar_fence_init();
        mbar_arrive_expect_tx(&bar, plan->tx);
        for (int i = 0; i < plan->nloads; i++) {
            const Load& l = plan->loads[i];
            tma_load_2d(sm + l.off, l.op ? &mb : &ma, l.x, l.y, &bar);
        }
    }
    __syncthreads();
    mbar_wait(&bar, 0);
    float d[N / 2];
    for (int ks = 0; ks < plan->ksteps; ks++) {
        const uint64_t da = wgmma_desc(sm + plan->a_off[ks], plan->mode, plan->lbo[0], plan->sbo[0]);
        const uint64_t db = wgmma_desc(sm + plan->b_base + plan->b_off[ks], plan->mode, plan->lbo[1], plan->sbo[1]);
        wgmma_fence();
        wgmma_bf16<N, TA, TB>(d, da, db, ks > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    const int l = threadIdx.x, w = l / 32, g = (l % 32) / 4, t4 = l % 4;
    for (int j = 0; j < N / 8; j++)
        for (int h = 0; h < 2; h++)
            for (int e = 0; e < 2; e++) out[(16 * w + g + 8 * h) * N + 8 * j + 2 * t4 + e] = d[4 * j + 2 * h + e];
}

// Boxes and descriptors of one operand (mn x K, K-major: stored [mn][K]; MN-major: stored [K][mn]) in
// the canonical layout of span S (0: none); returns the bytes it occupies from `base`.
unsigned plan_operand(Plan& p, int op, int mn, int K, bool mn_major, unsigned span, unsigned base) {
    auto load = [&](int x, int y, unsigned off) { p.loads[p.nloads++] = {op, x, y, base + off}; };
    unsigned* offs = op ? p.b_off : p.a_off;
    if (!span) {   // core matrices (8 rows of 16 bytes) at SBO per 8 mn, LBO = 128 per 8 k
        for (int mg = 0; mg < mn / 8; mg++)
            for (int kc = 0; kc < K / 8; kc++) load(mn_major ? 8 * mg : 8 * kc, mn_major ? 8 * kc : 8 * mg, mg * (K / 8) * 128 + kc * 128);
        p.lbo[op] = 128;
        p.sbo[op] = (K / 8) * 128;
        for (int ks = 0; ks < K / 16; ks++) offs[ks] = 2 * ks * 128;
        return (unsigned)mn * K * 2;
    }
    const int e = (int)span / 2;   // elements per swizzled row
    if (!mn_major) {               // chunks of e k-columns, mn rows of span bytes each
        for (int c = 0; c < K / e; c++) load(c * e, 0, c * mn * span);
        p.lbo[op] = 16;
        p.sbo[op] = 8 * span;
        for (int ks = 0; ks < K / 16; ks++) offs[ks] = (ks * 16 / e) * mn * span + (ks * 16 % e) * 2;
        return (unsigned)(K / e) * mn * span;
    }
    const int blocks = (mn + e - 1) / e;   // blocks of e mn-columns, K rows of span bytes each
    for (int j = 0; j < blocks; j++) load(j * e, 0, j * K * span);
    p.lbo[op] = K * span;
    p.sbo[op] = 8 * span;
    for (int ks = 0; ks < K / 16; ks++) offs[ks] = ks * 16 * span;
    return (unsigned)blocks * K * span;
}

template <int N, int TA, int TB> void check_planned(unsigned span) {
    constexpr int K = 32;
    const std::vector<uint16_t> A = random_bf16(64 * K), B = random_bf16((size_t)K * N);   // A[m][k], B[k][n]
    std::vector<uint16_t> At(K * 64), Bt((size_t)N * K);
    for (int m = 0; m < 64; m++)
        for (int k = 0; k < K; k++) At[k * 64 + m] = A[m * K + k];
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) Bt[(size_t)n * K + k] = B[(size_t)k * N + n];
    const unsigned cu = span == 0 ? 0 : span == 32 ? 1 : span == 64 ? 2 : 3;
    const unsigned bc = span ? span / 2 : 8, br_k = span ? K : 8;   // box columns; box rows of an MN-major box
    auto map_of = [&](const std::vector<uint16_t>& m, int rows, int cols, bool mn_major, int mn) {
        return make_map(m.data(), rows, cols, cols * 2, 2, mn_major ? br_k : (span ? mn : 8), bc, cu);
    };
    const CUtensorMap ma = TA ? map_of(At, K, 64, true, 64) : map_of(A, 64, K, false, 64);
    const CUtensorMap mb = TB ? map_of(B, K, N, true, N) : map_of(Bt, N, K, false, N);
    Plan* p = new Plan{};
    p->ksteps = K / 16;
    p->mode = span == 0 ? WG_SWIZZLE_NONE : span == 32 ? WG_SWIZZLE_32B : span == 64 ? WG_SWIZZLE_64B : WG_SWIZZLE_128B;
    const unsigned a_bytes = plan_operand(*p, 0, 64, K, TA, span, 0);
    p->b_base = (a_bytes + 1023) / 1024 * 1024;
    const unsigned b_bytes = plan_operand(*p, 1, N, K, TB, span, p->b_base);
    for (int i = 0; i < p->nloads; i++) p->tx += (p->loads[i].op ? (TB ? br_k : (span ? N : 8)) : (TA ? br_k : (span ? 64 : 8))) * bc * 2;
    std::vector<double> want((size_t)64 * N);
    for (int m = 0; m < 64; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += from_bf16(A[m * K + k]) * from_bf16(B[(size_t)k * N + n]);
            want[(size_t)m * N + n] = s;
        }
    Buf<float> out(want.size());
    char what[112];
    std::snprintf(what, sizeof what, "wgmma m64n%dk16 trans-a %d trans-b %d, swizzle %u bytes", N, TA, TB, span);
    expect_ok(run_k<&wgmma_planned<N, TA, TB>>("wgmma_planned", 1u, Dim{1}, Dim{128}, p->b_base + b_bytes, ma, mb, (const Plan*)p, out.p()),
              what);
    close(what, out.p(), want.data(), want.size(), 1e-6, 1e-6);
    delete p;
}

TEST(hopper_wgmma_layouts) {
    for (unsigned span : {0u, 32u, 64u}) {
        check_planned<24, 0, 0>(span);
        check_planned<40, 1, 1>(span);
        check_planned<64, 0, 1>(span);
        check_planned<8, 1, 0>(span);
    }
}

// A wgmma's accumulator is in flight until wgmma_wait retires its group: reading it earlier reads NaN.
__global__ void wgmma_early_read(float* out) {
    DYNAMIC_SHARED(uint16_t, sm);
    for (int i = threadIdx.x; i < 64 * 16 + 16 * 64; i += blockDim.x) sm[i] = 0x3f80;   // bf16 1.0
    fence_proxy_async();
    __syncthreads();
    float d[32];
    const uint64_t a = wgmma_desc(sm, WG_SWIZZLE_NONE, 128, 256), b = wgmma_desc(sm + 64 * 16, WG_SWIZZLE_NONE, 128, 256);
    wgmma_fence();
    wgmma_bf16<64, 0, 0>(d, a, b, 0);
    out[threadIdx.x] = d[0];
    wgmma_commit();
    out[128 + threadIdx.x] = d[0];   // committed, not yet waited for
    wgmma_wait<0>();
    out[256 + threadIdx.x] = d[0];
}
// The emulator reads a wgmma's operands as late as the hardware may: at the first retirement. A
// kernel that overwrites them before wgmma_wait (a stage released early) computes with the new bytes.
__global__ void wgmma_overwritten(float* out) {
    DYNAMIC_SHARED(uint16_t, sm);
    for (int i = threadIdx.x; i < 64 * 16 + 16 * 64; i += blockDim.x) sm[i] = 0x3f80;   // bf16 1.0
    fence_proxy_async();
    __syncthreads();
    float d[32];
    const uint64_t a = wgmma_desc(sm, WG_SWIZZLE_NONE, 128, 256), b = wgmma_desc(sm + 64 * 16, WG_SWIZZLE_NONE, 128, 256);
    wgmma_fence();
    wgmma_bf16<64, 0, 0>(d, a, b, 0);
    wgmma_commit();
    __syncthreads();
    for (int i = threadIdx.x; i < 16 * 64; i += blockDim.x) sm[64 * 16 + i] = 0x4000;   // B := 2.0 while in flight
    fence_proxy_async();
    __syncthreads();
    wgmma_wait<0>();
    out[threadIdx.x] = d[0];
}
__global__ void wgmma_partial(float* out) {
    DYNAMIC_SHARED(uint16_t, sm);
    float d[32];
    wgmma_bf16<64, 0, 0>(d, wgmma_desc(sm, 0, 128, 256), wgmma_desc(sm, 0, 128, 256), 0);
    out[threadIdx.x] = 1;
}
__global__ void wgmma_warp_exits(float* out) {
    DYNAMIC_SHARED(uint16_t, sm);
    if (threadIdx.x >= 96) return;
    float d[32];
    wgmma_bf16<64, 0, 0>(d, wgmma_desc(sm, 0, 128, 256), wgmma_desc(sm, 0, 128, 256), 0);
    out[threadIdx.x] = 1;
}
__global__ void wgmma_nonuniform(float* out) {
    DYNAMIC_SHARED(uint16_t, sm);
    for (int i = threadIdx.x; i < 4096; i += blockDim.x) sm[i] = 0;
    __syncthreads();
    float d[32];
    wgmma_bf16<64, 0, 0>(d, wgmma_desc(sm + (threadIdx.x == 5 ? 8 : 0), 0, 128, 256), wgmma_desc(sm, 0, 128, 256), 0);
    out[threadIdx.x] = 1;
}

TEST(hopper_wgmma_errors) {
    Buf<float> out(384);
    expect_ok(RUN(wgmma_early_read, Dim{1}, Dim{128}, 8192u, out.p()), "wgmma in flight");
    for (int i = 0; i < 128; i++) {
        if (!std::isnan(out[i]) || !std::isnan(out[128 + i])) { failf("thread %d read its accumulator before wgmma_wait: not NaN", i); break; }
        if (out[256 + i] != 16.0f) { failf("thread %d: accumulator %g after wgmma_wait, want 16", i, out[256 + i]); break; }
    }
    expect_ok(RUN(wgmma_overwritten, Dim{1}, Dim{128}, 8192u, out.p()), "wgmma operands overwritten in flight");
    for (int i = 0; i < 128; i++)
        if (out[i] != 32.0f) { failf("thread %d: %g, want 32 (operands read at retirement, after the overwrite)", i, out[i]); break; }
    expect_error(RUN(wgmma_partial, Dim{1}, Dim{96}, 8192u, out.p()), "is incomplete in a block of 96 threads", "incomplete warpgroup");
    expect_error(RUN(wgmma_warp_exits, Dim{1}, Dim{128}, 8192u, out.p()), "exited", "warp of the warpgroup exited");
    expect_error(RUN(wgmma_nonuniform, Dim{1}, Dim{128}, 8192u, out.p()), "different descriptors", "non-uniform descriptor");
}

// ---- named barriers (bar.sync / bar.arrive)

// Two groups of 4 warps take turns through a critical section, FlashAttention-3's warpgroup
// ping-pong: group c waits on barrier 1 + c (its own 128 threads and the other group's 128
// arrivals), writes, then arrives on the other group's barrier; group 1 opens with an arrival that
// lets group 0 go first and makes no arrival after its last turn (every episode completes). Thread
// l of each group reads the slot thread l of the other group wrote in the turn before: a barrier
// that let a group in early reads a stale turn number.
constexpr int kTurns = 5;
__global__ void named_pingpong(int* bad) {
    __shared__ int slot[128];
    const int c = threadIdx.x / 128, l = threadIdx.x % 128;
    if (c == 0) slot[l] = -1;
    __syncthreads();
    if (c == 1) named_bar_arrive(1, 256);
    int wrong = 0;
    for (int r = 0; r < kTurns; r++) {
        named_bar_sync(1 + c, 256);
        if (slot[l] != 2 * r + c - 1) wrong++;
        slot[l] = 2 * r + c;
        if (c == 0 || r + 1 < kTurns) named_bar_arrive(2 - c, 256);
    }
    bad[blockIdx.x * 256 + threadIdx.x] = wrong;
}
// A producer warp hands rounds of data to three consumer warps through barrier 5 (full: the
// producer arrives, the consumers sync) and barrier 6 (empty: the consumers arrive, the producer syncs).
__global__ void named_producer(float* out) {
    __shared__ float data[32];
    const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    float sum = 0;
    for (int r = 0; r < kTurns; r++) {
        if (w == 0) {
            if (r > 0) named_bar_sync(6, 128);
            data[lane] = (float)(r * 32 + lane);
            named_bar_arrive(5, 128);
        } else {
            named_bar_sync(5, 128);
            for (int i = 0; i < 32; i++) sum += data[i] * (float)w;
            if (r + 1 < kTurns) named_bar_arrive(6, 128);
        }
    }
    out[threadIdx.x] = sum;
}
__global__ void named_bad(int* out, int id, int threads, int mode) {
    // mode 0: every warp syncs (id, threads); 1: warp 0 syncs 64, warp 1 syncs 96; 2: warp 0 arrives
    // twice; 3: only warps 0 and 1 sync (id, threads); 4: warp 0 arrives and nobody waits.
    const int w = threadIdx.x / 32;
    if (mode == 0) named_bar_sync(id, threads);
    if (mode == 1 && w < 2) named_bar_sync(id, w == 0 ? 64 : 96);
    if (mode == 2 && w == 0) { named_bar_arrive(id, threads); named_bar_arrive(id, threads); }
    if (mode == 3 && w < 2) named_bar_sync(id, threads);
    if (mode == 4 && w == 0) named_bar_arrive(id, threads);
    out[threadIdx.x] = 1;
}

TEST(hopper_named_barriers) {
    Buf<int> bad(512);
    expect_ok(RUN(named_pingpong, Dim{2}, Dim{256}, 0u, bad.p()), "named-barrier ping-pong");
    for (int i = 0; i < 512; i++)
        if (bad[i] != 0) { failf("ping-pong: thread %d saw %d turns out of order (a barrier let a group in early)", i, bad[i]); break; }
    Buf<float> out(128);
    expect_ok(RUN(named_producer, Dim{1}, Dim{128}, 0u, out.p()), "named-barrier producer/consumer");
    for (int i = 32; i < 128; i++) {
        double want = 0;
        for (int r = 0; r < kTurns; r++)
            for (int j = 0; j < 32; j++) want += (r * 32.0 + j) * (i / 32);
        if (out[i] != want) { failf("producer/consumer: thread %d summed %g, want %g", i, out[i], want); break; }
    }
    Buf<int> o(128);
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 0, 64, 0), "barrier id 0 (1..15", "named barrier id 0");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 16, 64, 0), "barrier id 16", "named barrier id 16");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 1, 48, 0), "not a positive multiple of 32", "48 threads");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 1, 256, 0), "exceeds the block's 128 threads", "more threads than the block");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 2, 0, 1), "thread count differs from the", "mismatched thread counts");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 2, 64, 2), "already arrived", "a second arrival in one episode");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 3, 96, 3), "deadlock: thread", "96 expected, 64 arrive");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 4, 128, 3), "waits at named_bar_sync", "the deadlock names the barrier");
    expect_error(RUN(named_bad, Dim{1}, Dim{128}, 0u, o.p(), 3, 64, 4), "block ended with named barrier 3 holding 32 of 64",
                 "an arrival nobody waits for");
}

// ---- wgmma with A from registers

// A (64 x 64, bf16, row-major in global memory) is handed to the warpgroup as registers, each thread
// building its fragment from the PTX ISA's table for wgmma .m64nNk16 A (per warp w, rows 16w..: the
// mma.m16n8k16 A fragment): register r of lane (g = lane/4, t = lane%4) holds row g + 8 (r & 1),
// columns 2t + 8 (r >> 1) and +1, low half first. B lands by TMA as in wgmma_tile.
template <int N, int TB>
__global__ void wgmma_rs_tile(const uint16_t* A, const __grid_constant__ CUtensorMap mb, float* out) {
    DYNAMIC_SHARED(unsigned char, sm);
    __shared__ uint64_t bar;
    if (threadIdx.x == 0) {
        mbar_init(&bar, 1);
        mbar_fence_init();
        mbar_arrive_expect_tx(&bar, N * kK * 2);
        if (TB) for (int j = 0; j < N / 64; j++) tma_load_2d(sm + j * 8192, &mb, 64 * j, 0, &bar);
        else tma_load_2d(sm, &mb, 0, 0, &bar);
    }
    __syncthreads();
    mbar_wait(&bar, 0);
    const int l = threadIdx.x, w = l / 32, g = (l % 32) / 4, t4 = l % 4;
    float d[N / 2];
    for (int ks = 0; ks < kK / 16; ks++) {
        uint32_t a[4];
        for (int r = 0; r < 4; r++) {
            const int row = 16 * w + g + 8 * (r & 1), col = 16 * ks + 2 * t4 + 8 * (r >> 1);
            a[r] = (uint32_t)A[row * kK + col] | (uint32_t)A[row * kK + col + 1] << 16;
        }
        const uint64_t db = TB ? wgmma_desc(sm + ks * 2048, WG_SWIZZLE_128B, 8192, 1024) : wgmma_desc(sm + ks * 32, WG_SWIZZLE_128B, 16, 1024);
        wgmma_fence();
        wgmma_bf16_rs<N, TB>(d, a, db, ks > 0);
        for (int r = 0; r < 4; r++) a[r] = 0xffffffffu;   // read at issue: later register writes do not reach it
    }
    wgmma_commit();
    wgmma_wait<0>();
    for (int j = 0; j < N / 8; j++)
        for (int h = 0; h < 2; h++)
            for (int e = 0; e < 2; e++) out[(16 * w + g + 8 * h) * N + 8 * j + 2 * t4 + e] = d[4 * j + 2 * h + e];
}

template <int N, int TB> void check_wgmma_rs() {
    const std::vector<uint16_t> A = random_bf16(64 * kK), B = random_bf16((size_t)kK * N);   // A[m][k], B[k][n]
    std::vector<uint16_t> Bt((size_t)N * kK);
    for (int k = 0; k < kK; k++)
        for (int n = 0; n < N; n++) Bt[(size_t)n * kK + k] = B[(size_t)k * N + n];
    const CUtensorMap mb = TB ? make_map(B.data(), kK, N, N * 2, 2, kK, 64, 3) : make_map(Bt.data(), N, kK, kK * 2, 2, N, kK, 3);
    std::vector<double> want((size_t)64 * N);
    for (int m = 0; m < 64; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < kK; k++) s += from_bf16(A[m * kK + k]) * from_bf16(B[(size_t)k * N + n]);
            want[(size_t)m * N + n] = s;
        }
    Buf<float> out(want.size());
    char what[96];
    std::snprintf(what, sizeof what, "wgmma m64n%dk16 A in registers, trans-b %d", N, TB);
    expect_ok(run_k<&wgmma_rs_tile<N, TB>>("wgmma_rs_tile", 1u, Dim{1}, Dim{128}, (unsigned)N * 128, (const uint16_t*)A.data(), mb, out.p()),
              what);
    close(what, out.p(), want.data(), want.size(), 1e-6, 1e-6);
}

// Mixing register-A and descriptor-A wgmma in one rendezvous is divergence.
__global__ void wgmma_rs_divergent(float* out) {
    DYNAMIC_SHARED(uint16_t, sm);
    for (int i = threadIdx.x; i < 4096; i += blockDim.x) sm[i] = 0;
    __syncthreads();
    float d[32];
    const uint32_t a[4] = {0, 0, 0, 0};
    const uint64_t b = wgmma_desc(sm, 0, 128, 256);
    if (threadIdx.x < 64) wgmma_bf16_rs<64, 0>(d, a, b, 0);
    else wgmma_bf16<64, 0, 0>(d, b, b, 0);
    out[threadIdx.x] = 1;
}

TEST(hopper_wgmma_register_a) {
    check_wgmma_rs<64, 0>();
    check_wgmma_rs<128, 1>();
    check_wgmma_rs<256, 1>();
    if (!sanitized()) {
        check_wgmma_rs<64, 1>();
        check_wgmma_rs<128, 0>();
    }
    Buf<float> out(128);
    expect_error(RUN(wgmma_rs_divergent, Dim{1}, Dim{128}, 8192u, out.p()), "divergent warpgroup op", "register A beside descriptor A");
}

// ---- clusters

// A pipeline over the X CTAs of a cluster (the shape of a GEMM sharing an operand): in round q each
// CTA's thread 0 loads its slice (8 rows x 32 fp32 of G, the rows of cluster cl, round q, rank r) and
// multicasts it into slot r of stage q % 2 of every CTA, whose full barrier expects all X slices.
// Consumer warps 1 and 2 sum their rows of every slot weighted (slot + 1)(q + 1), then free the
// stage by arriving on the empty barrier of every CTA (2X arrivals: a producer writes into all of
// them). A box missing from a CTA, in the wrong slot, or a stage refilled early gives wrong sums.
constexpr int kRingRows = 8, kRingCols = 32, kRingStages = 2, kRingRounds = 5;
constexpr unsigned kRingBox = kRingRows * kRingCols * 4;
unsigned ring_smem(unsigned x) { return kRingStages * x * kRingBox + 2 * kRingStages * 8; }
__global__ void cluster_ring(const __grid_constant__ CUtensorMap map, float* out, unsigned* ranks) {
    DYNAMIC_SHARED(unsigned char, sm);
    const unsigned X = cluster_nctas(), rank = cluster_ctarank();
    uint64_t* full = reinterpret_cast<uint64_t*>(sm + kRingStages * X * kRingBox);
    uint64_t* empty = full + kRingStages;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, cl = blockIdx.x / X;
    ranks[blockIdx.x * blockDim.x + threadIdx.x] = rank * 16 + X;
    if (threadIdx.x == 0) {
        for (int s = 0; s < kRingStages; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 2 * X);
        }
        mbar_fence_init();
    }
    cluster_sync();   // every CTA's barriers exist before a peer arrives on them or multicasts to them
    if (threadIdx.x == 0) {
        for (int q = 0; q < kRingRounds; q++) {
            const int s = q % kRingStages;
            mbar_wait(&empty[s], ((q / kRingStages) & 1) ^ 1);
            mbar_arrive_expect_tx(&full[s], X * kRingBox);
            tma_load_2d_multicast(sm + (s * X + rank) * kRingBox, &map, 0, ((cl * kRingRounds + q) * (int)X + (int)rank) * kRingRows,
                                  &full[s], (uint16_t)((1u << X) - 1));
        }
    } else if (warp == 1 || warp == 2) {
        float acc = 0;
        for (int q = 0; q < kRingRounds; q++) {
            const int s = q % kRingStages;
            mbar_wait(&full[s], (q / kRingStages) & 1);
            const float* st = reinterpret_cast<const float*>(sm + s * X * kRingBox);
            for (unsigned p = 0; p < X; p++)
                for (int r = warp - 1; r < kRingRows; r += 2) acc += st[(p * kRingRows + r) * kRingCols + lane] * (p + 1) * (q + 1);
            __syncwarp();
            if (lane == 0)
                for (unsigned p = 0; p < X; p++) mbar_arrive_cluster(&empty[s], p);
        }
        out[(blockIdx.x * 2 + warp - 1) * kRingCols + lane] = acc;
    }
    cluster_sync();   // no CTA exits while a peer may still arrive on its barriers
}

TEST(hopper_cluster_multicast_ring) {
    for (unsigned X : {2u, 4u, 1u}) {
        const unsigned clusters = X == 4 ? 2 : 3, blocks = clusters * X, threads = 96;
        const size_t rows = (size_t)blocks * kRingRounds * kRingRows;
        // multiples of 1/64 in [-1, 1]: every partial sum is exact in fp32, so the sums are compared exactly
        std::vector<float> g = uniform(rows * kRingCols);
        for (float& v : g) v = std::round(v * 64) / 64;
        const CUtensorMap map = make_map(g.data(), rows, kRingCols, kRingCols * 4, 4, kRingRows, kRingCols, 0);
        Buf<float> out((size_t)blocks * 2 * kRingCols);
        Buf<unsigned> ranks((size_t)blocks * threads);
        char what[64];
        std::snprintf(what, sizeof what, "multicast ring, clusters of %u", X);
        expect_ok(RUN_CLUSTER(cluster_ring, X, Dim{blocks}, Dim{threads}, ring_smem(X), map, out.p(), ranks.p()), what);
        std::vector<double> want(out.size());
        for (unsigned b = 0; b < blocks; b++)
            for (int c = 0; c < 2; c++)
                for (int l = 0; l < kRingCols; l++) {
                    double s = 0;
                    for (int q = 0; q < kRingRounds; q++)
                        for (unsigned p = 0; p < X; p++)
                            for (int r = c; r < kRingRows; r += 2)
                                s += (double)g[((((b / X) * kRingRounds + q) * X + p) * kRingRows + r) * kRingCols + l] * (p + 1) * (q + 1);
                    want[(b * 2 + c) * kRingCols + l] = s;
                }
        close(what, out.v, want, 0, 0);
        for (unsigned i = 0; i < blocks * threads; i++)
            if (ranks[i] != (i / threads % X) * 16 + X) {
                failf("%s: block %u reads cluster_ctarank %u, cluster_nctas %u", what, i / threads, ranks[i] / 16, ranks[i] % 16);
                break;
            }
    }
}

// Across CTAs: CTA 0 multicasts a box into CTA 1 only, whose threads read it after waiting on their
// barrier, or (wait = 0) without: TSan must report that race (run-tests.sh requires it), i.e. the
// multicast's ordering reaches the peer through its barrier and nothing else.
__global__ void cluster_multicast_read(const __grid_constant__ CUtensorMap map, float* out, int wait) {
    DYNAMIC_SHARED(unsigned char, sm);
    uint64_t* bar = reinterpret_cast<uint64_t*>(sm + kRingBox);
    if (threadIdx.x == 0) {
        mbar_init(bar, 1);
        mbar_fence_init();
    }
    cluster_sync();
    const unsigned rank = cluster_ctarank();
    if (threadIdx.x == 0 && rank == 0) tma_load_2d_multicast(sm, &map, 0, 0, bar, 2);
    if (rank == 1) {
        if (threadIdx.x == 0) mbar_arrive_expect_tx(bar, kRingBox);
        if (wait) mbar_wait(bar, 0);
        for (unsigned i = threadIdx.x; i < kRingBox / 4; i += blockDim.x) out[i] = reinterpret_cast<const float*>(sm)[i];
    }
    cluster_sync();
}

TEST(race_cluster_multicast_without_mbar_wait) {
    const std::vector<float> g = uniform(kRingRows * kRingCols);
    const CUtensorMap map = make_map(g.data(), kRingRows, kRingCols, kRingCols * 4, 4, kRingRows, kRingCols, 0);
    Buf<float> waited(kRingBox / 4), raced(kRingBox / 4);
    expect_ok(RUN_CLUSTER(cluster_multicast_read, 2, Dim{2}, Dim{64}, kRingBox + 8, map, waited.p(), 1), "multicast read after mbar_wait");
    for (size_t i = 0; i < g.size(); i++)
        if (waited[i] != g[i]) {
            failf("multicast read after mbar_wait: element %zu is %g, want %g", i, waited[i], g[i]);
            break;
        }
    expect_ok(RUN_CLUSTER(cluster_multicast_read, 2, Dim{2}, Dim{64}, kRingBox + 8, map, raced.p(), 0), "multicast read without mbar_wait");
}

// Remote use of a barrier with no cluster_sync after its mbar_init (under every schedule: either the
// peer has not initialised it yet, or it did so after the user's last cluster_sync).
__global__ void cluster_no_sync_after_init(float*) {
    DYNAMIC_SHARED(uint64_t, bar);
    if (threadIdx.x == 0) {
        mbar_init(bar, 1);
        mbar_fence_init();
    }
    __syncthreads();
    if (cluster_ctarank() == 1 && threadIdx.x == 0) mbar_arrive_cluster(bar, 0);
    cluster_sync();
}
// mode 0: a remote arrival on rank nctas; 1: a multicast mask naming rank nctas; 2: CTA 0 exits, then
// CTA 1 arrives on its barrier; 3: CTA 1's thread 0 waits for an arrival nobody makes while the rest
// of the cluster waits at cluster_sync.
__global__ void cluster_misuse(const __grid_constant__ CUtensorMap map, int mode) {
    DYNAMIC_SHARED(uint64_t, bar);
    if (threadIdx.x == 0) {
        mbar_init(bar, 1);
        mbar_fence_init();
    }
    cluster_sync();
    const unsigned rank = cluster_ctarank(), n = cluster_nctas();
    if (mode == 0 && threadIdx.x == 0) mbar_arrive_cluster(bar, n);
    if (mode == 1 && threadIdx.x == 0) {
        mbar_arrive_expect_tx(bar, kRingBox);
        tma_load_2d_multicast(bar + 16, &map, 0, 0, bar, (uint16_t)(1u | 1u << n));
    }
    if (mode == 2) {
        if (rank == 0) return;
        cluster_sync();   // completes once CTA 0 has exited: exited threads do not hold up a cluster barrier
        if (threadIdx.x == 0) mbar_arrive_cluster(bar, 0);
    }
    if (mode == 3 && rank == 1 && threadIdx.x == 0) mbar_wait(bar, 0);
    cluster_sync();
}
// Only rank 0 touches it (two CTAs writing the worker's one copy would be a race TSan reports).
__global__ void cluster_static_shared(float* out) {
    __shared__ float s[64];
    if (cluster_ctarank() != 0) return;
    s[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = s[63 - threadIdx.x];
}

TEST(hopper_cluster_errors) {
    std::vector<float> g(64 * kRingCols, 1.0f);
    const CUtensorMap map = make_map(g.data(), 64, kRingCols, kRingCols * 4, 4, kRingRows, kRingCols, 0);
    Buf<float> out(256);
    const unsigned smem = 1024 + kRingBox;
    expect_error(RUN_CLUSTER(cluster_no_sync_after_init, 2, Dim{4}, Dim{64}, 64u, out.p()),
                 "another CTA may use an mbarrier only after mbar_init, mbar_fence_init and a cluster_sync", "no cluster_sync after mbar_init");
    expect_error(RUN_CLUSTER(cluster_misuse, 2, Dim{2}, Dim{64}, smem, map, 0), "CTA 2 is outside this cluster of 2 CTA(s)",
                 "remote arrival outside the cluster");
    expect_error(RUN_CLUSTER(cluster_misuse, 2, Dim{2}, Dim{64}, smem, map, 1), "the CTA mask 0x0005 names CTA 2, outside this cluster",
                 "multicast mask outside the cluster");
    expect_error(RUN_CLUSTER(cluster_misuse, 2, Dim{2}, Dim{64}, smem, map, 2), "has exited and its shared memory is gone",
                 "remote arrival on an exited CTA");
    expect_error(RUN_CLUSTER(cluster_misuse, 2, Dim{4}, Dim{64}, smem, map, 3), "of block (1,0,0) waits at mbar_wait", "cluster deadlock");
    expect_error(RUN_CLUSTER(cluster_static_shared, 2, Dim{2}, Dim{64}, 0u, out.p()), "wrote static __shared__ memory",
                 "static shared memory in a cluster kernel");
    expect_ok(RUN(cluster_static_shared, Dim{2}, Dim{64}, 0u, out.p()), "static shared memory without clusters");
    expect_error(RUN_CLUSTER(cluster_misuse, 2, Dim{3}, Dim{64}, smem, map, 0), "grid.x is not a multiple of the kernel's __cluster_dims__ x",
                 "grid.x not a multiple of the cluster");
    expect_error(RUN_CLUSTER(cluster_misuse, 16, Dim{16}, Dim{64}, smem, map, 0), "the emulator models clusters (X,1,1) with X from 1 to 8",
                 "cluster over the portable size");
}

}  // namespace

// ---- what the GPU needs that a one-proxy, in-order emulator would let through: fence.proxy.async
// between generic stores and the async proxy's reads, wgmma.fence before a batch of wgmma,
// cp.async.bulk.wait_group.read before a TMA store's box is reused or its thread exits, setmaxnreg
// by whole warpgroups within the CTA's register pool. Each kernel breaks one rule by `mode`.

// Generic stores of bf16 1.0 to A and B, then a 64 x 64 x 16 wgmma: mode 0 fences after the stores
// (right), 1 never, 2 before the stores (too early); mode 3 issues without wgmma_fence, 4 fences,
// waits, and issues again without a new fence.
__global__ void rule_wgmma_fences(float* out, int mode) {
    DYNAMIC_SHARED(uint16_t, sm);
    if (mode == 2) fence_proxy_async();
    for (int i = threadIdx.x; i < 64 * 16 + 16 * 64; i += blockDim.x) sm[i] = 0x3f80;
    if (mode != 1 && mode != 2) fence_proxy_async();
    __syncthreads();
    float d[32];
    const uint64_t a = wgmma_desc(sm, WG_SWIZZLE_NONE, 128, 256), b = wgmma_desc(sm + 64 * 16, WG_SWIZZLE_NONE, 128, 256);
    if (mode != 3) wgmma_fence();
    wgmma_bf16<64, 0, 0>(d, a, b, 0);
    wgmma_commit();
    wgmma_wait<0>();
    if (mode == 4) {
        d[0] += 1.0f;   // the thread touches an accumulator, so the next wgmma needs a fence first
        wgmma_bf16<64, 0, 0>(d, a, b, 1);
        wgmma_commit();
        wgmma_wait<0>();
    }
    out[threadIdx.x] = d[0];
}

// Thread 0 stores a box the block wrote (fenced) with TMA: mode 0 commits and waits (right), 1 never
// fences the generic stores, 2 exits without the wait, 3 waits without committing, 4 rewrites the
// box before the wait.
__global__ void rule_tma_store(const __grid_constant__ CUtensorMap map, int mode) {
    DYNAMIC_SHARED(float, box);
    for (int i = threadIdx.x; i < 8 * 32; i += blockDim.x) box[i] = (float)(i + 1);
    if (mode != 1) fence_proxy_async();
    __syncthreads();
    if (threadIdx.x != 0) return;
    tma_store_2d(&map, box, 0, 0);
    if (mode == 4) box[5] = -1.0f;
    if (mode != 3) tma_store_commit();
    if (mode != 2) tma_store_wait();
}

// A producer warpgroup and two consumer warpgroups under __launch_bounds__(384, 1) (168 registers a
// thread at entry: a pool of 64,512): dec to 40 and inc to `up` (232 fits exactly, 240 never does:
// the consumers wait for registers forever). mode 1: the producer's last warp exits before its
// setmaxnreg; 2: the consumers dec instead of inc (up above the 168 they hold).
template <int UP>
__global__ void rule_setmaxnreg(float* out, int mode) {
    const int wg = threadIdx.x / 128;
    if (wg == 0) {
        if (mode == 1 && threadIdx.x >= 96) return;
        setmaxnreg_dec<40>();
        out[threadIdx.x] = 1.0f;
        return;
    }
    if (mode == 2) setmaxnreg_dec<UP>();
    else setmaxnreg_inc<UP>();
    out[threadIdx.x] = 2.0f;
}

// A 128B-swizzled K-major A starting `off` bytes into its 1024-byte pattern: 32 (the k-advance inside
// a row) is fine; 128 (row 1 of the pattern) is refused, as the GPU with base offset 0 would read it
// as row 0 of a pattern that starts there.
__global__ void rule_swizzle_start(float* out, int off) {
    DYNAMIC_SHARED(unsigned char, sm);
    for (int i = threadIdx.x; i < 16384 / 4; i += blockDim.x) reinterpret_cast<unsigned*>(sm)[i] = 0x3f803f80u;
    fence_proxy_async();
    __syncthreads();
    float d[32];
    wgmma_fence();
    wgmma_bf16<64, 0, 0>(d, wgmma_desc(sm + off, WG_SWIZZLE_128B, 16, 1024), wgmma_desc(sm + 8192, WG_SWIZZLE_128B, 16, 1024), 0);
    wgmma_commit();
    wgmma_wait<0>();
    out[threadIdx.x] = d[0];
}

TEST(hopper_hardware_rules) {
    Buf<float> out(384);
    expect_ok(RUN(rule_wgmma_fences, Dim{1}, Dim{128}, 8192u, out.p(), 0), "generic stores fenced before wgmma");
    for (int i = 0; i < 128; i++)
        if (out[i] != 16.0f) { failf("thread %d: %g, want 16", i, out[i]); break; }
    expect_error(RUN(rule_wgmma_fences, Dim{1}, Dim{128}, 8192u, out.p(), 1), "which a generic-proxy store changed after the last fence_proxy_async",
                 "generic stores read by wgmma without fence_proxy_async");
    expect_error(RUN(rule_wgmma_fences, Dim{1}, Dim{128}, 8192u, out.p(), 2), "after the last fence_proxy_async",
                 "fence_proxy_async before the stores");
    expect_error(RUN(rule_wgmma_fences, Dim{1}, Dim{128}, 8192u, out.p(), 3), "has no wgmma_fence() since the kernel began",
                 "wgmma without wgmma_fence");
    expect_error(RUN(rule_wgmma_fences, Dim{1}, Dim{128}, 8192u, out.p(), 4), "or its last wgmma_wait",
                 "wgmma after wgmma_wait without a new wgmma_fence");

    expect_ok(RUN(rule_swizzle_start, Dim{1}, Dim{128}, 16384u, out.p(), 32), "swizzled operand advanced 32 bytes along its rows");
    expect_error(RUN(rule_swizzle_start, Dim{1}, Dim{128}, 16384u, out.p(), 128), "row 1 of its 1024-byte pattern",
                 "swizzled operand starting on row 1 of its pattern");

    Buf<float> g(8 * 32);
    const CUtensorMap map = make_map(g.p(), 8, 32, 128, 4, 8, 32, 0);
    expect_ok(RUN(rule_tma_store, Dim{1}, Dim{64}, 1024u, map, 0), "TMA store fenced, committed and waited");
    for (int i = 0; i < 8 * 32; i++)
        if (g[i] != (float)(i + 1)) { failf("stored element %d: %g, want %d", i, g[i], i + 1); break; }
    expect_error(RUN(rule_tma_store, Dim{1}, Dim{64}, 1024u, map, 1), "after the last fence_proxy_async", "TMA store of unfenced generic stores");
    expect_error(RUN(rule_tma_store, Dim{1}, Dim{64}, 1024u, map, 2), "exited with 1 tma_store_2d(s) still reading shared memory",
                 "exit before tma_store_wait");
    expect_error(RUN(rule_tma_store, Dim{1}, Dim{64}, 1024u, map, 3), "exited with 1 tma_store_2d(s)", "tma_store_wait without the commit");
    expect_error(RUN(rule_tma_store, Dim{1}, Dim{64}, 1024u, map, 4), "changed before tma_store_wait", "box rewritten before tma_store_wait");

    expect_ok(RUN_BOUNDED(rule_setmaxnreg<232>, 384, Dim{1}, Dim{384}, 0u, out.p(), 0), "setmaxnreg 40 / 232 within 168 x 384");
    for (int i = 0; i < 384; i++)
        if (out[i] != (i < 128 ? 1.0f : 2.0f)) { failf("thread %d: %g", i, out[i]); break; }
    expect_error(RUN_BOUNDED(rule_setmaxnreg<240>, 384, Dim{1}, Dim{384}, 0u, out.p(), 0), "waits at setmaxnreg.inc (the CTA's register pool",
                 "setmaxnreg.inc beyond the pool");
    expect_error(RUN_BOUNDED(rule_setmaxnreg<232>, 384, Dim{1}, Dim{384}, 0u, out.p(), 1), "setmaxnreg.dec (test_hopper.cpp",
                 "a warp exits before its warpgroup's setmaxnreg");
    expect_error(RUN_BOUNDED(rule_setmaxnreg<232>, 384, Dim{1}, Dim{384}, 0u, out.p(), 2), "holds 168 registers per thread; .dec must lower it",
                 "setmaxnreg.dec above the current count");
    expect_error(RUN(rule_setmaxnreg<232>, Dim{1}, Dim{384}, 0u, out.p(), 0), "ptxas ignores setmaxnreg (C7508)",
                 "setmaxnreg without __launch_bounds__");
}
