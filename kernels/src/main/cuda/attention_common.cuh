// What the bf16 flash attentions share (attention_bf16.cu on mma.sync; attention_wgmma.cu and
// attention_wgmma_bwd.cu on Hopper's wgmma): the bf16 type, the log2(e) of the exp2-domain softmax,
// packing two fp32 into the two bf16 of an mma A-fragment register, the backwards' read-add-round of
// gradient pairs, and the reductions over the four threads (a quad, lanes 4g .. 4g+3) that hold one
// row of an mma / wgmma accumulator fragment.
#pragma once
#include "bf16.cuh"
#include <cuda_bf16.h>

typedef __nv_bfloat16 att_bf16;

// Ends the launch with an error, for an argument the host refuses first (never a silent no-op):
// a trap on the GPU, a named error in the emulator.
#ifdef __CUDACC__
#define ATT_REFUSE(what) __trap()
#else
#define ATT_REFUSE(what) ::emu::fail("%s", what)
#endif
static constexpr float ATT_LOG2E = 1.4426950408889634f;
// The Hopper attentions' head dims (attention_wgmma.cu, attention_wgmma_bwd.cu): multiples of
// ATT_WGMMA_HD_STEP (TMA's 16-byte rows), each run at the instantiation ATT_WGMMA_HD_PAD(hd) (64, 128 or
// 256; the backward's hd <= 128 reaches 64 or 128 only), TMA zero-filling the columns past hd.
#define ATT_WGMMA_HD_STEP 8
#define ATT_WGMMA_HD_PAD(hd) ((hd) <= 64 ? 64 : (hd) <= 128 ? 128 : 256)

// Two fp32 -> one register of two bf16 (RNE), the lower-indexed element in the low half.
__device__ __forceinline__ unsigned att_pack(float lo, float hi) {
#ifdef __CUDACC__
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&v);
#else
    return (unsigned)bf16_bits_rne(lo) | ((unsigned)bf16_bits_rne(hi) << 16);
#endif
}
// dst[0], dst[1] (two bf16, 4-byte aligned) += lo, hi: widened, added in fp32, rounded once (the
// backwards' accumulation into dq, dk, dv).
__device__ __forceinline__ void att_acc2(att_bf16* dst, float lo, float hi) {
    const float a = __bfloat162float(dst[0]) + lo, b = __bfloat162float(dst[1]) + hi;
    *reinterpret_cast<unsigned*>(dst) = att_pack(a, b);
}
__device__ __forceinline__ float att_quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float att_quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
