// __nv_bfloat16 on the host: conversions round to nearest even; any NaN converts to the canonical
// NaN 0x7FFF as CUDA's __float2bfloat16 does (never to Inf); widening is exact.
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16;
inline __nv_bfloat16 __float2bfloat16(float f);
inline float __bfloat162float(__nv_bfloat16 h);

// An aggregate (no constructors), so that a __shared__ array of it needs no guarded dynamic
// initialisation (a guard would be shared by the block's fibers); convert with __float2bfloat16.
struct __nv_bfloat16 {
    unsigned short __x;
    operator float() const;
};
using nv_bfloat16 = __nv_bfloat16;

inline unsigned short emu_f32_to_bf16_bits(float f) {
    uint32_t u; std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}
inline __nv_bfloat16 __float2bfloat16(float f) { __nv_bfloat16 h; h.__x = emu_f32_to_bf16_bits(f); return h; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.__x << 16; float f; std::memcpy(&f, &u, 4); return f;
}
inline __nv_bfloat16::operator float() const { return __bfloat162float(*this); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { __nv_bfloat16 h; h.__x = x; return h; }
