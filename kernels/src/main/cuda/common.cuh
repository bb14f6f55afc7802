// Shared helpers for every kernel file: GELU variants, warp/block reductions.
// All kernels are extern "C" so the Java loader finds them by their plain names.
#pragma once
#include <cuda_runtime.h>
#include <math.h>

// Dynamic shared memory (the launch's byte count), one spelling for both compilers: nvcc's extern
// array; the host emulator's (kernels/src/emu) exact-size, NaN-filled buffer of the running block.
#ifdef __CUDACC__
#define DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#else
#define DYNAMIC_SHARED(T, name) T* const name = static_cast<T*>(emu_dynamic_shared())
#endif

#define GELU_TANH 0
#define GELU_EXACT 1

__device__ __forceinline__ float gelu_f(float x, int kind) {
    if (kind == GELU_EXACT) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    const float c = 0.79788456080286536f; // sqrt(2/pi)
    float u = c * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

__device__ __forceinline__ float gelu_grad_f(float x, int kind) {
    if (kind == GELU_EXACT) {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
        return cdf + x * pdf;
    }
    const float c = 0.79788456080286536f;
    float x2 = x * x;
    float u = c * (x + 0.044715f * x2 * x);
    float t = tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x2);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float part[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();                       // part[] may still be read by a previous call
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)(blockDim.x >> 5) ? part[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}
