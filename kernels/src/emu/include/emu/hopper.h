// The Hopper primitives of HOPPER_API.md for the host emulator: what hopper.cuh's inline PTX does on
// sm_90a, here as calls into the emulated device (hopper.cpp, runtime.cpp), faithful to the PTX ISA.
// hopper.cuh's host branch is exactly `#include <emu/hopper.h>`; names and signatures are the API's
// (the trailing ::emu::Site parameters name the call site in errors and must be left defaulted).
//
// mbarriers keep their whole state in their 64-bit word (arrivals, tx-count, phase); mbar_wait blocks
// the thread until the phase completed, and a block in which nobody can run is a deadlock error.
// TMA copies and wgmma execute at issue (a legal schedule); wgmma's result reaches the accumulator
// registers when wgmma_wait retires its group, and they read NaN while it is in flight.
// Clusters: the CTAs of a cluster run on one worker thread; remote arrivals and multicast boxes act
// on the peer's shared memory at the same offsets.
#pragma once
#include <cstdint>

#include <cuda.h>
#include <cuda_runtime.h>

#define WG_SWIZZLE_NONE 0
#define WG_SWIZZLE_128B 1
#define WG_SWIZZLE_64B 2
#define WG_SWIZZLE_32B 3

// ---- mbarriers (mbarrier.* .shared::cta)
__device__ inline void mbar_init(uint64_t* bar, unsigned arrivals, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_init(bar, arrivals, s);
}
// fence.mbarrier_init: the emulator's memory is sequentially consistent within a block.
__device__ inline void mbar_fence_init() {}
__device__ inline void mbar_arrive(uint64_t* bar, ::emu::Site s = ::emu::Site::current()) { ::emu::mbar_arrive(bar, 0, s); }
__device__ inline void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes, ::emu::Site s = ::emu::Site::current()) {
    if (bytes == 0) ::emu::fail("mbar_arrive_expect_tx of 0 bytes (use mbar_arrive)");
    ::emu::mbar_arrive(bar, bytes, s);
}
__device__ inline void mbar_wait(uint64_t* bar, unsigned parity, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_wait(bar, parity, s);
}

// HOPPER_API.md writes uint64_t for unsigned long long; on LP64 they are distinct types, so barriers
// declared either way are taken.
__device__ inline void mbar_init(unsigned long long* bar, unsigned arrivals, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_init(reinterpret_cast<uint64_t*>(bar), arrivals, s);
}
__device__ inline void mbar_arrive(unsigned long long* bar, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_arrive(reinterpret_cast<uint64_t*>(bar), 0, s);
}
__device__ inline void mbar_arrive_expect_tx(unsigned long long* bar, unsigned bytes, ::emu::Site s = ::emu::Site::current()) {
    mbar_arrive_expect_tx(reinterpret_cast<uint64_t*>(bar), bytes, s);
}
__device__ inline void mbar_wait(unsigned long long* bar, unsigned parity, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_wait(reinterpret_cast<uint64_t*>(bar), parity, s);
}

// ---- TMA (cp.async.bulk.tensor.2d tile mode); x = inner (column) coordinate, y = outer (row)
__device__ inline void tma_load_2d(void* smem, const CUtensorMap* map, int x, int y, uint64_t* bar,
                                   ::emu::Site s = ::emu::Site::current()) {
    ::emu::tma_load_2d(smem, map, x, y, bar, s);
}
__device__ inline void tma_store_2d(const CUtensorMap* map, const void* smem, int x, int y,
                                    ::emu::Site s = ::emu::Site::current()) {
    ::emu::tma_store_2d(map, smem, x, y, s);
}
__device__ inline void tma_reduce_add_2d(const CUtensorMap* map, const void* smem, int x, int y,
                                         ::emu::Site s = ::emu::Site::current()) {
    ::emu::tma_reduce_add_2d(map, smem, x, y, s);
}
__device__ inline void tma_load_2d(void* smem, const CUtensorMap* map, int x, int y, unsigned long long* bar,
                                   ::emu::Site s = ::emu::Site::current()) {
    ::emu::tma_load_2d(smem, map, x, y, reinterpret_cast<uint64_t*>(bar), s);
}
// The store has written global memory at issue; the bulk group is still tracked: its box must not
// change before tma_store_wait retires it, and the thread must not exit before that.
__device__ inline void tma_store_commit() { ::emu::bulk_commit(); }
__device__ inline void tma_store_wait(::emu::Site s = ::emu::Site::current()) { ::emu::bulk_wait(s); }
// fence.proxy.async: the generic-proxy shared-memory stores so far become what TMA and wgmma read.
__device__ inline void fence_proxy_async() { ::emu::fence_proxy_async(); }

// ---- thread-block clusters (__cluster_dims__(X, 1, 1) on the kernel; rank = blockIdx.x % X)
__device__ inline unsigned cluster_ctarank() { return ::emu::cluster_rank(); }
__device__ inline unsigned cluster_nctas() { return ::emu::cluster_size(); }
// barrier.cluster.arrive.release + wait.acquire: every thread of every CTA of the cluster.
__device__ inline void cluster_sync(::emu::Site s = ::emu::Site::current()) { ::emu::cluster_sync(s); }
// mbarrier.arrive.release.cluster on CTA `cta`'s barrier at bar's offset (cta may be this CTA's rank).
__device__ inline void mbar_arrive_cluster(uint64_t* bar, unsigned cta, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_arrive_cluster(bar, cta, s);
}
__device__ inline void mbar_arrive_cluster(unsigned long long* bar, unsigned cta, ::emu::Site s = ::emu::Site::current()) {
    ::emu::mbar_arrive_cluster(reinterpret_cast<uint64_t*>(bar), cta, s);
}
// The box lands at smem's offset in every CTA of ctaMask, with complete_tx on each one's barrier at
// bar's offset (the mask may include this CTA).
__device__ inline void tma_load_2d_multicast(void* smem, const CUtensorMap* map, int x, int y, uint64_t* bar, uint16_t ctaMask,
                                             ::emu::Site s = ::emu::Site::current()) {
    ::emu::tma_load_2d_multicast(smem, map, x, y, bar, ctaMask, s);
}
__device__ inline void tma_load_2d_multicast(void* smem, const CUtensorMap* map, int x, int y, unsigned long long* bar,
                                             uint16_t ctaMask, ::emu::Site s = ::emu::Site::current()) {
    ::emu::tma_load_2d_multicast(smem, map, x, y, reinterpret_cast<uint64_t*>(bar), ctaMask, s);
}

// ---- wgmma (warpgroup: 4 consecutive warps from a warp index divisible by 4; all 128 threads)
__device__ inline uint64_t wgmma_desc(const void* smem, int swizzle, unsigned lbo_bytes, unsigned sbo_bytes,
                                      ::emu::Site s = ::emu::Site::current()) {
    return ::emu::wgmma_desc(smem, swizzle, lbo_bytes, sbo_bytes, s);
}
// wgmma.fence orders register accesses before wgmma reads them: each thread of a warpgroup must have
// executed one since the kernel began or its last wgmma_wait when the next wgmma issues.
__device__ inline void wgmma_fence() { ::emu::wgmma_fence(); }
__device__ inline void wgmma_commit() { ::emu::wgmma_commit(); }
template <int N> __device__ inline void wgmma_wait() {
    static_assert(N >= 0 && N <= 7, "wgmma.wait_group takes 0..7");
    ::emu::wgmma_wait(N);
}
// D (64 x N fp32, the accumulator fragment of emu/device.h's wg_d_row/wg_d_col) = A (64 x 16) B (16 x N)
// + (scaleD ? D : 0); bf16 operands from the descriptors; TRANS_A/B: 0 K-major, 1 MN-major.
template <int N, int TRANS_A, int TRANS_B>
__device__ inline void wgmma_bf16(float (&d)[N / 2], uint64_t a, uint64_t b, int scaleD, ::emu::Site s = ::emu::Site::current()) {
    static_assert(N >= 8 && N <= 256 && N % 8 == 0, "wgmma m64nNk16: N is a multiple of 8 from 8 to 256");
    static_assert((TRANS_A == 0 || TRANS_A == 1) && (TRANS_B == 0 || TRANS_B == 1), "imm-trans is 0 or 1");
    ::emu::wgmma_bf16(d, N, TRANS_A, TRANS_B, a, b, scaleD, s);
}

// D (64 x N) = A (64 x 16 from registers: warp w of the group holds rows 16w..16w+15 in mma.m16n8k16's
// A fragment, two bf16 per register, low half first) B (16 x N from its descriptor) + (scaleD ? D : 0).
template <int N, int TRANS_B>
__device__ inline void wgmma_bf16_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b, int scaleD,
                                     ::emu::Site s = ::emu::Site::current()) {
    static_assert(N >= 8 && N <= 256 && N % 8 == 0, "wgmma m64nNk16: N is a multiple of 8 from 8 to 256");
    static_assert(TRANS_B == 0 || TRANS_B == 1, "imm-trans-b is 0 or 1");
    ::emu::wgmma_bf16_rs(d, N, TRANS_B, a, b, scaleD, s);
}

// ---- named barriers (bar.sync / bar.arrive id, threads): id 1..15 (0 is __syncthreads), threads a
// multiple of 32; sync waits until `threads` arrivals (syncs and arrives) completed the episode.
__device__ inline void named_bar_sync(int id, int threads, ::emu::Site s = ::emu::Site::current()) {
    ::emu::named_bar(id, threads, true, s);
}
__device__ inline void named_bar_arrive(int id, int threads, ::emu::Site s = ::emu::Site::current()) {
    ::emu::named_bar(id, threads, false, s);
}

// setmaxnreg: a warpgroup rendezvous (the same value from all 128 threads); .dec lowers the
// warpgroup's registers, .inc waits until the CTA's pool (the cap at entry from __launch_bounds__
// times the threads) has room, so a budget that never fits is a deadlock error, as it hangs the GPU.
template <int REGS> __device__ inline void setmaxnreg_inc(::emu::Site s = ::emu::Site::current()) {
    static_assert(REGS >= 24 && REGS <= 256 && REGS % 8 == 0, "setmaxnreg takes 24..256, a multiple of 8");
    ::emu::setmaxnreg(REGS, true, s);
}
template <int REGS> __device__ inline void setmaxnreg_dec(::emu::Site s = ::emu::Site::current()) {
    static_assert(REGS >= 24 && REGS <= 256 && REGS % 8 == 0, "setmaxnreg takes 24..256, a multiple of 8");
    ::emu::setmaxnreg(REGS, false, s);
}
