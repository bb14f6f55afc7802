// The emulated device's interface between the CUDA headers in this folder (compiled into the kernels)
// and the runtime (runtime.cpp: fibers, scheduler, barriers). Kernel code reads its thread's
// registers through tl_regs; everything that involves other threads goes through a runtime call,
// which is where barriers, schedules and error checks live.
#pragma once
#include <cstddef>
#include <cstdint>
#include <source_location>

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace emu {

// What one CUDA thread (a fiber) sees of itself; the runtime's Fiber starts with it.
struct ThreadRegs {
    uint3 tid, bid;
    dim3 bdim, gdim;
    unsigned lane, warp;
    void* dyn_smem;   // this block's dynamic shared memory (exactly the launch's bytes, NaN-filled)
};

// The fiber running on this OS thread. Default TLS model: initial-exec would put the library's
// whole TLS block (static __shared__ arrays included) in static TLS, which dlopen refuses.
extern __thread ThreadRegs* tl_regs;

using Site = std::source_location;

// Block-wide barrier (__syncthreads).
void syncthreads(Site site);
// Warp barrier over `mask` (__syncwarp).
void syncwarp(unsigned mask, Site site);
// Shuffle: mode 0 idx, 1 up, 2 down, 3 xor; returns the source lane's bits (CUDA's width rules).
enum ShflMode { SHFL_IDX = 0, SHFL_UP = 1, SHFL_DOWN = 2, SHFL_XOR = 3 };
uint64_t shfl(unsigned mask, uint64_t bits, int mode, int arg, int width, Site site);
// Vote over `mask`: returns the ballot of `pred` over the lanes in mask.
unsigned ballot(unsigned mask, int pred, Site site);
// cp.async: the source is read now, the destination is NaN-poisoned until the wait retires it.
void cp_async(void* dst, const void* src, size_t bytes, size_t zfill);
void cp_commit();
void cp_wait_prior(size_t prior);

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 over the whole warp: each lane passes its
// four A registers, two B registers and four C floats (PTX ISA fragment tables, below) and gets
// its four D floats. Products are exact and summed in double (the tensor core's order is
// unspecified), then rounded once to fp32.
void mma_m16n8k16_bf16(float* d, const unsigned* a, const unsigned* b, const float* c, Site site);
// ldmatrix.sync.aligned.m8n8.x{num}[.trans].shared.b16 over the whole warp: lane 8j + i gives the
// address of row i of matrix j (j < num; 16 bytes, 16-byte aligned, in this block's shared
// memory); each lane receives num registers (fragment tables below).
void ldmatrix(unsigned* regs, const void* row, int num, bool trans, Site site);
// mma.m16n8k16 (.bf16) fragments, PTX ISA 9.7.14.5.8; g = lane >> 2, t = lane & 3; element i of a
// lane is the (i & 1) half of register i >> 1 (low half first):
//   A (16 x 16): row g + 8*((i>>1)&1), k 2t + (i&1) + 8*(i>=4)       (i < 8, registers a0..a3)
//   B (16 x 8):  k 2t + (i&1) + 8*(i>=2), col g                      (i < 4, registers b0, b1)
//   C, D:        row g + 8*(i>=2), col 2t + (i&1)                    (i < 4, four floats)
inline int mma_a_row(int lane, int i) { return (lane >> 2) + 8 * ((i >> 1) & 1); }
inline int mma_a_col(int lane, int i) { return 2 * (lane & 3) + (i & 1) + 8 * (i >= 4); }
inline int mma_b_row(int lane, int i) { return 2 * (lane & 3) + (i & 1) + 8 * (i >= 2); }
inline int mma_b_col(int lane, int) { return lane >> 2; }
inline int mma_c_row(int lane, int i) { return (lane >> 2) + 8 * (i >= 2); }
inline int mma_c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }
// ldmatrix: lane l's register j holds elements (row, col) and (row, col + 1) of matrix j, or of its
// transpose with .trans, where row = l >> 2 and col = 2 (l & 3).

// ---- Hopper (sm_90a) asynchronous machinery: emu/hopper.h wraps these (hopper.cpp, runtime.cpp).
// The CTA's shared window (what __cvta_generic_to_shared returns, what wgmma descriptors and the
// swizzle modes address): dynamic shared memory at offset 0 (1024-byte aligned), then the static
// __shared__ variables (this worker's TLS block) at the next offset congruent to their address mod
// 1024. A pointer or range outside shared memory ends the block with an error naming `what`.
uint32_t shared_offset(const void* p, size_t bytes, const char* what);
void* shared_at(uint32_t offset, size_t bytes, const char* what);
// Thread-block clusters (__cluster_dims__(X, 1, 1)): the X CTAs of a cluster run together on one
// worker thread, each with its own dynamic shared memory (static __shared__ is refused: it is per
// worker thread). Rank = blockIdx.x % X.
unsigned cluster_rank();
unsigned cluster_size();
// barrier.cluster.arrive.release + wait.acquire: every thread of the cluster (exited ones excepted,
// as PTX's exit releases a cluster barrier they hold up).
void cluster_sync(Site site);
// CTA `cta`'s shared-window bytes [offset, offset + bytes) (mapa): refused for a rank outside the
// cluster, a CTA that has exited, and bytes outside its dynamic shared memory. `mbarrier`: the bytes
// are an mbarrier, which another CTA may use only after a cluster_sync that followed its mbar_init.
void* cluster_shared_at(unsigned cta, uint32_t offset, size_t bytes, const char* what, bool mbarrier);
// Records that this thread initialised the mbarrier at `offset` (for cluster_shared_at's check).
void mbar_note_init(uint32_t offset);
// Blocks the running thread until ready(arg) holds (the scheduler re-evaluates it; no thread able
// to run is a deadlock, reported with `what` and the call site).
void wait_until(bool (*ready)(const void*), const void* arg, const char* what, Site site);
// mbarrier.init / .arrive.expect_tx(tx_bytes; 0: plain arrive) / try_wait.parity loop.
void mbar_init(uint64_t* bar, unsigned count, Site site);
void mbar_arrive(uint64_t* bar, unsigned tx_bytes, Site site);
void mbar_wait(uint64_t* bar, unsigned parity, Site site);
// mbarrier.arrive.release.cluster on CTA `cta`'s mbarrier at bar's shared offset.
void mbar_arrive_cluster(uint64_t* bar, unsigned cta, Site site);
// cp.async.bulk.tensor.2d tile mode; map points at a CUtensorMap encoded by emu_encode_tensor_map.
void tma_load_2d(void* smem, const void* map, int x, int y, uint64_t* bar, Site site);
// .multicast::cluster: the box lands at smem's offset in every CTA of cta_mask, complete_tx on each
// one's mbarrier at bar's offset.
void tma_load_2d_multicast(void* smem, const void* map, int x, int y, uint64_t* bar, uint16_t cta_mask, Site site);
void tma_store_2d(const void* map, const void* smem, int x, int y, Site site);
// cp.reduce.async.bulk.tensor.2d .add on an fp32 map: global += shared, element-wise, atomically.
void tma_reduce_add_2d(const void* map, const void* smem, int x, int y, Site site);
// wgmma: the matrix descriptor of a shared-memory operand; the warpgroup-collective MMA
// (n = N, the accumulator has n/2 floats per thread); commit / wait of the thread's groups.
uint64_t wgmma_desc(const void* smem, int swizzle, unsigned lbo_bytes, unsigned sbo_bytes, Site site);
void wgmma_bf16(float* d, int n, int trans_a, int trans_b, uint64_t a, uint64_t b, int scale_d, Site site);
void wgmma_commit();
void wgmma_wait(int pending);
// The operand a descriptor describes (hopper.cpp; the ISA's canonical layouts, bf16): out[i][k] =
// element (i, k) of the mn x 16 matrix (A: i = m; B: i = n), trans = imm-trans (1: MN-major).
void wgmma_operand(uint64_t desc, int trans, int mn, float (*out)[16], const char* which, Site site);
// wgmma .m64nNk16 accumulator fragment (PTX ISA, wgmma register fragments, D): thread l (0..127)
// of the warpgroup, float i of its N/2: warp l/32 owns rows 16(l/32) .. +15; g = (l%32)/4, t = l%4;
// d[4j], d[4j+1] = (row g, cols 8j+2t, 8j+2t+1), d[4j+2], d[4j+3] = (row g+8, same cols).
inline int wg_d_row(int l, int i) { return 16 * (l >> 5) + ((l & 31) >> 2) + 8 * ((i >> 1) & 1); }
inline int wg_d_col(int l, int i) { return 8 * (i >> 2) + 2 * (l & 3) + (i & 1); }

// ---- named barriers and register-A wgmma (runtime.cpp, its "named barriers" section)
// bar.sync / bar.arrive id, threads: a rendezvous of `threads` arrivals (1..15; a multiple of 32,
// at most the block's threads, the same in every arrival of one episode); `wait` false is bar.arrive.
void named_bar(int id, int threads, bool wait, Site site);
void wgmma_fence();
void fence_proxy_async();
void async_proxy_wrote(const void* p, size_t n);
void async_proxy_reads(const void* p, size_t n, const char* what);
void bulk_issue(const void* box, size_t n, const char* what, Site site);
void bulk_commit();
void bulk_wait(Site site);
void setmaxnreg(unsigned regs, bool inc, Site site);
// wgmma .m64nNk16 with A (64 x 16 bf16) in registers: a[0..3] of thread l are warp l/32's rows
// 16(l/32) .. +15 in mma.m16n8k16's A fragment (mma_a_row / mma_a_col, two bf16 per register, low
// half first); B from its descriptor (trans_b as wgmma_bf16's). The registers are read at issue.
void wgmma_bf16_rs(float* d, int n, int trans_b, const uint32_t* a, uint64_t b, int scale_d, Site site);

// Ends the block with an error (returned by emu_launch); never returns.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace emu
