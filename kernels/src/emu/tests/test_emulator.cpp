// The emulator's own behaviour: the kernel table, argument and launch-shape checks, barriers that
// catch missing synchronisation and report deadlock / divergence / exited threads / bad masks,
// shuffle semantics, cp.async poisoning, atomics, schedules, bf16.
// Test kernels here are compiled with the same headers as the real ones and launched through
// emu::launch_entry (the table holds only the real kernels).
#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include "common.cuh"   // DYNAMIC_SHARED, as the kernels use it
#include "mma.cuh"      // mma.sync / ldmatrix, as the kernels use them
#include "harness.h"
#include "run_local.h"

using namespace t;

namespace {

// ---- kernels with and without the synchronisation they need

__global__ void reverse_block(float* out, const float* in, int sync) {
    __shared__ float s[256];
    const int t = threadIdx.x, b = blockIdx.x;
    s[t] = in[b * 256 + t];
    if (sync) __syncthreads();
    out[b * 256 + t] = s[255 - t];
}
__global__ void reverse_warp(float* out, const float* in, int sync) {
    __shared__ float s[64];
    const int t = threadIdx.x, lane = t & 31, base = t & ~31;
    s[t] = in[blockIdx.x * 64 + t];
    if (sync) __syncwarp();
    out[blockIdx.x * 64 + t] = s[base + 31 - lane];
}
__global__ void deadlock_kernel(float* out) {
    float v = threadIdx.x;
    if ((threadIdx.x & 31) < 16) __syncthreads();
    else v = __shfl_sync(0xffffffffu, v, 0);
    out[threadIdx.x] = v;
}
__global__ void divergent_barrier(float* out) {
    if (threadIdx.x & 1) __syncthreads();
    else __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void exit_before_barrier(float* out) {
    if (threadIdx.x >= 64) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void mask_excludes(float* out) {
    float v = __shfl_sync(0x0000ffffu, (float)threadIdx.x, 0);
    out[threadIdx.x] = v;
}
__global__ void divergent_shuffle(float* out) {
    float v = threadIdx.x;
    if (threadIdx.x & 1) v = __shfl_xor_sync(0xffffffffu, v, 1);
    else v = __shfl_xor_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = v;
}
__global__ void shuffles(int* out, int width) {
    const int l = threadIdx.x;
    out[0 * 32 + l] = __shfl_sync(0xffffffffu, l * 10, (l * 7) & 31, width);
    out[1 * 32 + l] = __shfl_up_sync(0xffffffffu, l * 10, 3, width);
    out[2 * 32 + l] = __shfl_down_sync(0xffffffffu, l * 10, 5, width);
    out[3 * 32 + l] = __shfl_xor_sync(0xffffffffu, l * 10, 6, width);
    out[4 * 32 + l] = (int)__ballot_sync(0xffffffffu, l % 3 == 0);
}
__global__ void cp_async_kernel(float* out, const float* in, int wait) {
    __shared__ __align__(16) float s[128];
    const int l = threadIdx.x;
    __pipeline_memcpy_async(&s[4 * l], &in[4 * l], 16);
    __pipeline_commit();
    if (wait) __pipeline_wait_prior(0);
    __syncwarp();
    for (int i = 0; i < 4; i++) out[4 * l + i] = s[(4 * l + 4 + i) % 128];   // the neighbour's copy
}
__global__ void atomics_kernel(float* f, double* d) {
    atomicAdd(f, 1.0f);
    atomicAdd(d, 0.5);
}
__global__ void ticket_kernel(int* tickets, int* counter) { tickets[threadIdx.x] = atomicAdd(counter, 1); }
__global__ void dyn_smem_kernel(float* out, int n) {
    DYNAMIC_SHARED(float, s);
    out[threadIdx.x] = s[threadIdx.x];   // never written: NaN bytes
    if (threadIdx.x < n) s[threadIdx.x] = 1.0f;
}

__global__ void static_smem_kernel(float* out) {
    __shared__ float s[64];
    out[blockIdx.x * 64 + threadIdx.x] = s[threadIdx.x];   // never written in this block: NaN
    s[threadIdx.x] = 1.0f;                                 // (the next block must not see it)
}

// ---- mma.sync m16n8k16 and ldmatrix, against the PTX ISA's fragment tables written out here
// (not the emulator's): g = lane >> 2, t = lane & 3, a register's low half is the lower element.
//   A register r: row g + 8 (r & 1), k 2t + 8 (r >> 1) (+1 in the high half)
//   B register r: k 2t + 8 r (+1 in the high half), col g
//   C/D float i:  row g + 8 (i >> 1), col 2t + (i & 1)
__device__ unsigned pack2(const __nv_bfloat16* p0, const __nv_bfloat16* p1) {
    return (unsigned)__bfloat16_as_ushort(*p0) | ((unsigned)__bfloat16_as_ushort(*p1) << 16);
}
__global__ void mma_kernel(float* d, const __nv_bfloat16* a, const __nv_bfloat16* b, const float* c) {
    const int l = threadIdx.x, g = l >> 2, t = l & 3;
    unsigned ar[4], br[2];
    float cr[4], dr[4];
    for (int r = 0; r < 4; r++) {
        int row = g + 8 * (r & 1), k = 2 * t + 8 * (r >> 1);
        ar[r] = pack2(&a[row * 16 + k], &a[row * 16 + k + 1]);   // A row-major 16 x 16
    }
    for (int r = 0; r < 2; r++) {
        int k = 2 * t + 8 * r;
        br[r] = pack2(&b[k * 8 + g], &b[(k + 1) * 8 + g]);        // B row-major 16 (k) x 8 (n)
    }
    for (int i = 0; i < 4; i++) cr[i] = c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
    mma_bf16_16816(dr, ar, br, cr);
    for (int i = 0; i < 4; i++) d[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = dr[i];
}
__global__ void mma_partial_warp(float* d) {
    unsigned ar[4] = {0, 0, 0, 0}, br[2] = {0, 0};
    float c[4] = {0, 0, 0, 0};
    if (threadIdx.x == 5) return;
    mma_bf16_16816(c, ar, br, c);
    d[threadIdx.x] = c[0];
}
// Four 8 x 8 matrices of b16 in dynamic shared memory, row i of matrix j at row slot
// (5i + 3j + 1) % 32 (so the rows of a matrix are not contiguous); each lane supplies the address
// of row (lane & 7) of matrix (lane >> 3); lanes past the matrices used pass matrix 3's rows, which
// must be ignored. out[lane * 4 + r] = register r.
__global__ void ldmatrix_kernel(unsigned* out, const unsigned short* vals, int num, int trans, int misalign, int global) {
    DYNAMIC_SHARED(unsigned short, s);
    for (int e = threadIdx.x; e < 256; e += 32) s[e] = vals[e];
    __syncwarp();
    const int l = threadIdx.x, j = l >> 3 < num ? l >> 3 : 3, i = l & 7;
    const unsigned short* row = (global ? vals : s) + ((5 * i + 3 * j + 1) % 32) * 8 + (misalign ? 4 : 0);
    unsigned r[4] = {0, 0, 0, 0};
    if (num == 1) { if (trans) ldmatrix_x1_trans(r, row); else ldmatrix_x1(r, row); }
    if (num == 2) { if (trans) ldmatrix_x2_trans(r, row); else ldmatrix_x2(r, row); }
    if (num == 4) { if (trans) ldmatrix_x4_trans(r, row); else ldmatrix_x4(r, row); }
    for (int k = 0; k < 4; k++) out[l * 4 + k] = r[k];
}
__global__ void ldmatrix_partial_warp(unsigned* out) {
    DYNAMIC_SHARED(unsigned short, s);
    if (threadIdx.x >= 24) return;
    unsigned r[4];
    ldmatrix_x4(r, s + (threadIdx.x & 7) * 8);
    out[threadIdx.x] = r[0];
}

}  // namespace

// The sources' kernels as gen-kernel-list.sh parses them from src/main/cuda (one line each).
#define EMU_SOURCE_KERNEL(name, params, bound, cx, cy, cz) #name,
static const char* const kSourceKernels[] = {
#include "kernel_sources.inc"
};
#undef EMU_SOURCE_KERNEL

TEST(emu_table_matches_sources) {
    const int sources = (int)(sizeof kSourceKernels / sizeof kSourceKernels[0]);
    if (emu_kernel_count() != sources) failf("emu_kernel_count() = %d, the sources have %d kernels", emu_kernel_count(), sources);
    for (const char* name : kSourceKernels)
        if (!emu::find_kernel(name)) failf("kernel %s of the sources is not in the emulator's table", name);
    for (int i = 0; i < emu_kernel_count(); i++) {
        const emu::KernelEntry* e = emu::find_kernel(emu_kernel_name(i));
        int names = 1;
        for (const char* p = e->params; *p; p++) names += *p == ',';
        if (!*e->params || names != emu_kernel_param_count(i))
            failf("%s: %d parameters by type, %d names in the sources", e->name, emu_kernel_param_count(i), names);
    }
    // gemm_f32(A, sam, sak, B, sbk, sbn, C, ldc, M, N, K, beta, bias, res, ldr, resRows, gout, ldg, geluCols, gbias, geluKind)
    const unsigned long long want[] = {8, 8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 8, 8, 8, 4, 8, 8, 4, 8, 4};
    for (int i = 0; i < emu_kernel_count(); i++)
        if (std::string(emu_kernel_name(i)) == "gemm_f32")
            for (int p = 0; p < 21; p++)
                if (emu_kernel_param_size(i, p) != want[p])
                    failf("gemm_f32 parameter %d: %llu bytes, want %llu", p, emu_kernel_param_size(i, p), want[p]);
}

TEST(emu_argument_and_shape_checks) {
    float* f = nullptr;
    long long ll = 0;
    int i = 0;
    // add_f32(float* dst, const float* src, long long n) given an int n
    expect_error(launch_err("add_f32", Dim{1}, Dim{32}, 0u, f, f, i), "add_f32 argument 2 (n) is 4 bytes, the kernel takes 8",
                 "int for long long");
    expect_error(launch_err("add_f32", Dim{1}, Dim{32}, 0u, f, f), "takes 3 arguments, got 2", "argument count");
    expect_error(launch_err("no_such_kernel", Dim{1}, Dim{32}, 0u, f), "unknown kernel no_such_kernel", "unknown kernel");
    expect_error(launch_err("add_f32", Dim{1}, Dim{1025}, 0u, f, f, ll), "more than 1024 threads", "block size");
    expect_error(launch_err("add_f32", Dim{1, 65536}, Dim{32}, 0u, f, f, ll), "grid.y/z > 65535", "grid.y");
    expect_error(launch_err("add_f32", Dim{1}, Dim{32}, 300u * 1024, f, f, ll), "over 227 KB", "shared memory");
    expect_error(launch_err("add_f32", Dim{0}, Dim{32}, 0u, f, f, ll), "empty launch", "empty grid");
    // attn_fwd is __launch_bounds__(32 * ROWS) = 256: a GPU refuses 512 threads, so do we
    expect_error(launch_err("attn_fwd", Dim{1}, Dim{512}, 0u, f, ll, f, f, f, f, i, i, i, i, 1.0f),
                 "__launch_bounds__(256)", "launch bounds");
}

// A race the suite must catch: with the barrier the block reversal is right under every schedule,
// without it every schedule reads slots not yet written (TSan reports it: run-tests.sh runs the
// race_ tests of the TSan build on their own and expects the report).
TEST(race_missing_syncthreads_changes_results) {
    auto in = uniform(4 * 256);
    std::vector<double> want(in.size());
    for (int b = 0; b < 4; b++)
        for (int t = 0; t < 256; t++) want[b * 256 + t] = in[b * 256 + 255 - t];
    Buf<float> In = buf(in), Out(in.size());
    expect_ok(RUN(reverse_block, Dim{4}, Dim{256}, 0u, Out.p(), (const float*)In.p(), 1), "reverse_block");
    close("reverse_block with __syncthreads", Out.v, want, 0, 0);
    Buf<float> Out2(in.size());
    expect_ok(RUN(reverse_block, Dim{4}, Dim{256}, 0u, Out2.p(), (const float*)In.p(), 0), "reverse_block");
    size_t same = 0;
    for (size_t k = 0; k < in.size(); k++) same += Out2[k] == (float)want[k];
    if (same == in.size()) failf("schedule %d: the missing __syncthreads went unnoticed", schedule());
}

TEST(race_missing_syncwarp_changes_results) {
    auto in = uniform(2 * 64);
    std::vector<double> want(in.size());
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 64; t++) want[b * 64 + t] = in[b * 64 + (t & ~31) + 31 - (t & 31)];
    Buf<float> In = buf(in), Out(in.size()), Out2(in.size());
    expect_ok(RUN(reverse_warp, Dim{2}, Dim{64}, 0u, Out.p(), (const float*)In.p(), 1), "reverse_warp");
    close("reverse_warp with __syncwarp", Out.v, want, 0, 0);
    expect_ok(RUN(reverse_warp, Dim{2}, Dim{64}, 0u, Out2.p(), (const float*)In.p(), 0), "reverse_warp");
    size_t same = 0;
    for (size_t k = 0; k < in.size(); k++) same += Out2[k] == (float)want[k];
    if (same == in.size()) failf("schedule %d: the missing __syncwarp went unnoticed", schedule());
}

TEST(emu_barrier_errors) {
    Buf<float> Out(256);
    expect_error(RUN(deadlock_kernel, Dim{2}, Dim{64}, 0u, Out.p()), "deadlock", "deadlock");
    expect_error(RUN(divergent_barrier, Dim{1}, Dim{64}, 0u, Out.p()), "divergent __syncthreads", "divergent barrier");
    expect_error(RUN(exit_before_barrier, Dim{1}, Dim{128}, 0u, Out.p()), "exited", "exited thread");
    expect_error(RUN(mask_excludes, Dim{1}, Dim{32}, 0u, Out.p()), "excludes the calling lane", "mask");
    expect_error(RUN(divergent_shuffle, Dim{1}, Dim{32}, 0u, Out.p()), "divergent warp op", "divergent shuffle");
    expect_error(RUN(mask_excludes, Dim{1}, Dim{48}, 0u, Out.p()), "excludes the calling lane", "partial warp");
    // the error names kernel, block and thread
    std::string e = RUN(exit_before_barrier, Dim{3}, Dim{128}, 0u, Out.p());
    if (e.find("exit_before_barrier block (0,0,0) thread (") == std::string::npos)
        failf("error does not name kernel, block and thread: %s", e.c_str());
    // the emulator is usable after an error
    Buf<float> In = buf(uniform(256));
    expect_ok(RUN(reverse_block, Dim{1}, Dim{256}, 0u, Out.p(), (const float*)In.p(), 1), "launch after errors");
}

TEST(emu_shuffle_semantics) {
    for (int width : {32, 16, 8}) {
        std::vector<int> out(5 * 32, -1);
        expect_ok(RUN(shuffles, Dim{1}, Dim{32}, 0u, out.data(), width), "shuffles");
        for (int l = 0; l < 32; l++) {
            const int base = l / width * width;
            const int idx = base + ((l * 7) & 31) % width;
            const int up = l - 3 >= base ? l - 3 : l, down = l + 5 < base + width ? l + 5 : l;
            const int x = (l ^ 6) < base + width ? (l ^ 6) : l;
            const int want[4] = {idx * 10, up * 10, down * 10, x * 10};
            for (int m = 0; m < 4; m++)
                if (out[m * 32 + l] != want[m]) failf("width %d mode %d lane %d: %d, want %d", width, m, l, out[m * 32 + l], want[m]);
            if ((unsigned)out[4 * 32 + l] != 0x49249249u) failf("ballot: 0x%08x", (unsigned)out[4 * 32 + l]);
        }
    }
}

TEST(emu_cp_async_poisons_until_wait) {
    auto in = uniform(128);
    Buf<float> In = buf(in), Out(128), Out2(128);
    expect_ok(RUN(cp_async_kernel, Dim{1}, Dim{32}, 0u, Out.p(), (const float*)In.p(), 1), "cp.async with wait");
    for (int k = 0; k < 128; k++)
        if (Out[k] != in[(k + 4) % 128]) { failf("cp.async with wait: [%d] = %g", k, Out[k]); break; }
    expect_ok(RUN(cp_async_kernel, Dim{1}, Dim{32}, 0u, Out2.p(), (const float*)In.p(), 0), "cp.async without wait");
    int nans = 0;
    for (int k = 0; k < 128; k++) nans += std::isnan(Out2[k]);
    if (nans != 128) failf("cp.async without wait: %d of 128 reads were NaN-poisoned", nans);
}

TEST(emu_atomics) {
    std::vector<float> f(1, 0.0f);
    std::vector<double> d(1, 0.0);
    emu_set_workers(4);
    expect_ok(RUN(atomics_kernel, Dim{64}, Dim{256}, 0u, f.data(), d.data()), "atomics");
    emu_set_workers(0);
    if (f[0] != 16384.0f || d[0] != 8192.0) failf("atomicAdd: float %g (want 16384), double %g (want 8192)", f[0], d[0]);
}

TEST(emu_schedule_order) {
    std::vector<int> tickets(64, -1), counter(1, 0);
    expect_ok(RUN(ticket_kernel, Dim{1}, Dim{64}, 0u, tickets.data(), counter.data()), "tickets");
    for (int t = 0; t < 64; t++) {
        int want = schedule() == 0 ? t : schedule() == 1 ? 63 - t : (t < 32 ? t : 32 + 63 - t);
        if (tickets[t] != want) { failf("schedule %d: thread %d ran %d-th, want %d-th", schedule(), t, tickets[t], want); break; }
    }
}

TEST(emu_dynamic_shared_is_nan_and_exact) {
    Buf<float> Out(64);
    expect_ok(RUN(dyn_smem_kernel, Dim{1}, Dim{64}, 64u * 4, Out.p(), 64), "dynamic shared");
    for (int k = 0; k < 64; k++)
        if (!std::isnan(Out[k])) { failf("dynamic shared memory [%d] = %g before any write, want NaN", k, Out[k]); break; }
}

TEST(emu_static_shared_is_nan_each_block) {
    Buf<float> Out(4 * 64);
    emu_set_workers(1);   // all four blocks on one worker: each still starts from NaN
    expect_ok(RUN(static_smem_kernel, Dim{4}, Dim{64}, 0u, Out.p()), "static shared");
    emu_set_workers(0);
    for (int k = 0; k < 4 * 64; k++)
        if (!std::isnan(Out[k])) { failf("static shared memory [%d] = %g before any write in its block, want NaN", k, Out[k]); break; }
}

TEST(emu_bf16_conversions) {
    struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80}, {0x3f818000u, 0x3f82}, {0x3f808001u, 0x3f81},
        {0x7f7fffffu, 0x7f80}, {0xff7fffffu, 0xff80}, {0x7f800000u, 0x7f80}, {0x7fc00000u, 0x7fff},
        {0x7f800001u, 0x7fff}, {0xffffffffu, 0x7fff}, {0x00000001u, 0x0000}, {0x80000000u, 0x8000}};
    for (auto c : cases) {
        float f;
        std::memcpy(&f, &c.in, 4);
        uint16_t got = __float2bfloat16(f).__x;
        if (got != c.out) failf("__float2bfloat16(0x%08x) = 0x%04x, want 0x%04x", c.in, got, c.out);
    }
    for (uint32_t h : {0x3f80u, 0xc2f7u, 0x0001u, 0x7f80u}) {
        float f = __bfloat162float(__ushort_as_bfloat16((unsigned short)h));
        uint32_t u;
        std::memcpy(&u, &f, 4);
        if (u != h << 16) failf("__bfloat162float(0x%04x) = 0x%08x", h, u);
    }
}

TEST(emu_mma_m16n8k16_fragments) {
    // Random bf16 A (16 x 16), B (16 x 8), C: D = A B + C at every element, each lane's registers
    // built by the ISA's table above. A transposed or shifted lane mapping in the emulator gives
    // wrong D elements (the check below fails with the first one).
    std::vector<__nv_bfloat16> a(256), b(128);
    std::vector<float> c = uniform(128);
    for (auto& x : a) x = __float2bfloat16(uniform(1)[0]);
    for (auto& x : b) x = __float2bfloat16(uniform(1)[0]);
    std::vector<double> want(128);
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++) {
            double s = c[m * 8 + n];
            for (int k = 0; k < 16; k++) s += (double)__bfloat162float(a[m * 16 + k]) * __bfloat162float(b[k * 8 + n]);
            want[m * 8 + n] = s;
        }
    std::vector<float> d(128, NAN);
    expect_ok(RUN(mma_kernel, Dim{1}, Dim{32}, 0u, d.data(), (const __nv_bfloat16*)a.data(), (const __nv_bfloat16*)b.data(),
                  (const float*)c.data()), "mma.sync");
    close("mma.sync m16n8k16 D", d.data(), want.data(), 128, 1e-6, 1e-6);
    // A transposed: the same kernel on A^T must give a different D (the test can tell them apart).
    std::vector<__nv_bfloat16> at(256);
    for (int m = 0; m < 16; m++)
        for (int k = 0; k < 16; k++) at[k * 16 + m] = a[m * 16 + k];
    std::vector<float> dt(128, NAN);
    expect_ok(RUN(mma_kernel, Dim{1}, Dim{32}, 0u, dt.data(), (const __nv_bfloat16*)at.data(), (const __nv_bfloat16*)b.data(),
                  (const float*)c.data()), "mma.sync on A^T");
    size_t same = 0;
    for (int e = 0; e < 128; e++) same += std::fabs(dt[e] - want[e]) <= 1e-6 + 1e-6 * std::fabs(want[e]);
    if (same > 16) failf("mma.sync: A^T gives %zu of 128 elements of A's product: the check cannot see a transpose", same);
    Buf<float> D(32);
    expect_error(RUN(mma_partial_warp, Dim{1}, Dim{32}, 0u, D.p()), "exited", "mma.sync with a lane missing");
}

TEST(emu_ldmatrix_fragments) {
    std::vector<unsigned short> vals(256);
    for (int e = 0; e < 256; e++) vals[e] = (unsigned short)(0x1000 + e * 7);   // distinct; any b16
    // element (matrix j, row i, col c) lies at row slot (5i + 3j + 1) % 32, column c
    auto val = [&](int j, int i, int c) { return (unsigned)vals[((5 * i + 3 * j + 1) % 32) * 8 + c]; };
    for (int trans = 0; trans < 2; trans++)
        for (int num : {1, 2, 4}) {
            std::vector<unsigned> out(128, 0xdeadbeef);
            expect_ok(RUN(ldmatrix_kernel, Dim{1}, Dim{32}, 512u, out.data(), (const unsigned short*)vals.data(), num, trans, 0, 0),
                      "ldmatrix");
            int bad = 0;
            for (int l = 0; l < 32; l++)
                for (int j = 0; j < num; j++) {
                    const int r = l >> 2, c = 2 * (l & 3);
                    unsigned lo = trans ? val(j, c, r) : val(j, r, c), hi = trans ? val(j, c + 1, r) : val(j, r, c + 1);
                    unsigned want = lo | (hi << 16);
                    if (out[l * 4 + j] != want && bad++ < 3)
                        failf("ldmatrix.x%d%s: lane %d register %d = 0x%08x, want 0x%08x", num, trans ? ".trans" : "", l, j,
                              out[l * 4 + j], want);
                }
        }
    std::vector<unsigned> out(128);
    expect_error(RUN(ldmatrix_kernel, Dim{1}, Dim{32}, 512u, out.data(), (const unsigned short*)vals.data(), 4, 0, 1, 0),
                 "not 16-byte aligned", "ldmatrix misaligned row");
    expect_error(RUN(ldmatrix_kernel, Dim{1}, Dim{32}, 512u, out.data(), (const unsigned short*)vals.data(), 2, 1, 0, 1),
                 "not in this block's shared memory", "ldmatrix from global memory");
    expect_error(RUN(ldmatrix_partial_warp, Dim{1}, Dim{32}, 512u, out.data()), "exited", "ldmatrix with lanes missing");
}
