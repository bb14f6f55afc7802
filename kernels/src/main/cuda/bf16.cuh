// fp32 -> bf16 bits, round to nearest even, NaN kept a quiet NaN of the same sign: the one
// fp32 -> bf16 rounding our kernels do by hand (f32_to_bf16; gemm_bf16 uses the cvt
// instruction through __float2bfloat16). Plain C++ with no CUDA header, so that the host test
// (kernels/src/test/cpp/bf16_bits.cpp, run by Bf16BitsTest) compiles this very function with g++.
#pragma once
#include <string.h>

#ifdef __CUDACC__
#define BF16_HD __host__ __device__ __forceinline__
#else
#define BF16_HD inline
#endif

BF16_HD unsigned short bf16_bits_rne(float f) {
    unsigned int u;
    memcpy(&u, &f, sizeof u);
    // NaN first: adding the rounding bias to a NaN whose payload sits in the low 16 bits carries
    // into the exponent's top and leaves 0x7f80 = Inf. Keep the sign and the high payload, set
    // the quiet bit (so the mantissa stays non-zero).
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);   // ties to even; the largest finite values round up to Inf
    return (unsigned short)(u >> 16);
}
