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
