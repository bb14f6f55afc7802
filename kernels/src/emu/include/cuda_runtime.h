// Host emulation of the CUDA device-side language for the kernels in src/main/cuda, compiled with
// g++ (see ../README.md). Qualifiers become host C++, built-in variables read the current fiber,
// barriers / shuffles / atomics go to the emulator's runtime. Only what our kernels use, plus the
// obvious neighbours of it.
#pragma once
#include <atomic>
#include <cmath>
#include <cstring>
#include <math.h>
#include <type_traits>
#include "emu/device.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
// Read from the source by gen-kernel-list.sh (the kernel table's cluster shape), like __launch_bounds__.
#define __cluster_dims__(...)
#define __align__(n) __attribute__((aligned(n)))
// A by-value parameter kept in constant memory (a CUtensorMap): the emulator copies arguments anyway.
#define __grid_constant__
// Per block: a block's fibers all run on one OS thread, one block at a time.
#define __shared__ static thread_local
#define __constant__ static
// The running block's dynamic shared memory, for common.cuh's DYNAMIC_SHARED: exactly the
// launch's bytes (ASan sees an overrun), NaN bytes until written.
inline void* emu_dynamic_shared() { return ::emu::tl_regs->dyn_smem; }
// The offset of a shared-memory pointer in the CTA's shared window (emu/device.h: shared_offset).
inline size_t __cvta_generic_to_shared(const void* p) { return ::emu::shared_offset(p, 1, "__cvta_generic_to_shared"); }

#define threadIdx (::emu::tl_regs->tid)
#define blockIdx (::emu::tl_regs->bid)
#define blockDim (::emu::tl_regs->bdim)
#define gridDim (::emu::tl_regs->gdim)
#define warpSize 32

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }

// ---- arithmetic intrinsics (host libm for the rest: expf, erff, tanhf, fmaf, ...)
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline long long __double_as_longlong(double d) { long long u; std::memcpy(&u, &d, 8); return u; }
inline double __longlong_as_double(long long u) { double d; std::memcpy(&d, &u, 8); return d; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
// fmaf without FMA hardware is a libm call (glibc emulates the fused rounding), ~9x slower in the
// GEMM's inner loop than this inline form: the product is exact in double, so the result is the
// fused one except in rare double-rounding ties (at most 1 ulp).
inline float emu_fmaf(float a, float b, float c) { return (float)((double)a * (double)b + (double)c); }
#define fmaf emu_fmaf
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

// ---- barriers and warp exchange
inline void __syncthreads(::emu::Site s = ::emu::Site::current()) { ::emu::syncthreads(s); }
inline void __syncwarp(unsigned mask = 0xffffffffu, ::emu::Site s = ::emu::Site::current()) {
    ::emu::syncwarp(mask, s);
}

namespace emu {
template <class T> inline uint64_t to_bits(T v) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a type over 8 bytes");
    uint64_t b = 0; std::memcpy(&b, &v, sizeof(T)); return b;
}
template <class T> inline T from_bits(uint64_t b) { T v; std::memcpy(&v, &b, sizeof(T)); return v; }
}  // namespace emu

template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = 32, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::from_bits<T>(::emu::shfl(mask, ::emu::to_bits(var), ::emu::SHFL_IDX, srcLane, width, s));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::from_bits<T>(::emu::shfl(mask, ::emu::to_bits(var), ::emu::SHFL_UP, (int)delta, width, s));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::from_bits<T>(::emu::shfl(mask, ::emu::to_bits(var), ::emu::SHFL_DOWN, (int)delta, width, s));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = 32, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::from_bits<T>(::emu::shfl(mask, ::emu::to_bits(var), ::emu::SHFL_XOR, laneMask, width, s));
}
inline unsigned __ballot_sync(unsigned mask, int pred, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::ballot(mask, pred, s);
}
inline int __any_sync(unsigned mask, int pred, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::ballot(mask, pred, s) != 0;
}
inline int __all_sync(unsigned mask, int pred, ::emu::Site s = ::emu::Site::current()) {
    return ::emu::ballot(mask, pred, s) == mask;
}

// ---- atomics: relaxed read-modify-write on the emulated memory (CUDA's atomics are relaxed)
template <class T> inline T emu_atomic_add(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v, std::memory_order_relaxed);
}
inline float atomicAdd(float* p, float v) { return emu_atomic_add(p, v); }
inline double atomicAdd(double* p, double v) { return emu_atomic_add(p, v); }
inline int atomicAdd(int* p, int v) { return emu_atomic_add(p, v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return emu_atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return emu_atomic_add(p, v); }
template <class T> inline T atomicExch(T* p, T v) {
    return std::atomic_ref<T>(*p).exchange(v, std::memory_order_relaxed);
}
template <class T> inline T atomicCAS(T* p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired, std::memory_order_relaxed);
    return expected;
}
template <class T> inline T atomicMax(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load(std::memory_order_relaxed);
    while (old < v && !a.compare_exchange_weak(old, v, std::memory_order_relaxed)) {}
    return old;
}
template <class T> inline T atomicMin(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load(std::memory_order_relaxed);
    while (v < old && !a.compare_exchange_weak(old, v, std::memory_order_relaxed)) {}
    return old;
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
