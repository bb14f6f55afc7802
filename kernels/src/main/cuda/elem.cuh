// Typed element access for kernels templated on their storage type T (float or __nv_bfloat16):
// every load widens to float exactly and every store of a float rounds to nearest even through
// bf16_bits_rne (the project's one rounding, DESIGN.md "bf16 mixed precision"), so a bf16
// instantiation of a kernel computes what the float one computes on bf16 values and rounds each
// stored element once, as the CPU reference (backend.Bf16Rounding) does.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include "bf16.cuh"

__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ float ld(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(float* p, float v) { *p = v; }
__device__ __forceinline__ void st(__nv_bfloat16* p, float v) { *p = __ushort_as_bfloat16(bf16_bits_rne(v)); }

// 16-byte vectors of T: VEC<T> elements (4 float, 8 bf16) moved by one 128-bit load or store.
template <typename T> constexpr int VEC = 16 / (int)sizeof(T);
template <typename T> union Pack16 { uint4 u; T e[VEC<T>]; };

// Whether both addresses are 16-byte aligned (a vector load or store of either is legal).
__device__ __forceinline__ bool aligned16(const void* a, const void* b) {
    return (((unsigned long long)a | (unsigned long long)b) & 15ull) == 0;
}

// v[0..m) = p[0..m) widened; m == VEC<T> is one 16-byte load (p 16-byte aligned), else m
// scalar loads. m is a constant at every call site, so the branch folds away.
template <typename T> __device__ __forceinline__ void ldn(const T* p, float* v, int m) {
    if (m == VEC<T>) {
        Pack16<T> pk;
        pk.u = *reinterpret_cast<const uint4*>(p);
        #pragma unroll
        for (int j = 0; j < VEC<T>; j++) v[j] = ld(&pk.e[j]);
    } else {
        for (int j = 0; j < m; j++) v[j] = ld(p + j);
    }
}

// p[0..m) = v[0..m), each rounded once (st); m == VEC<T> is one 16-byte store.
template <typename T> __device__ __forceinline__ void stn(T* p, const float* v, int m) {
    if (m == VEC<T>) {
        Pack16<T> pk;
        #pragma unroll
        for (int j = 0; j < VEC<T>; j++) st(&pk.e[j], v[j]);
        *reinterpret_cast<uint4*>(p) = pk.u;
    } else {
        for (int j = 0; j < m; j++) st(p + j, v[j]);
    }
}
