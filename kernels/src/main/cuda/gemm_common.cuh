// What the tensor-core GEMMs (gemm_bf16_mma.cu, gemm_bf16_wgmma.cu) share: the grouped tile raster
// and the fused epilogue.
// Raster: blocks walk the output tiles in groups of MMA_RASTER tile rows that sweep the columns
// together, so the B tiles of a group stay in L2.
// Epilogue: what happens to one accumulator value v = sum_k op(A)(m,k) op(B)(k,n), in fp32. T is the output's
// element type (float, or __nv_bfloat16 when outBf16); C, bias, res, gaux and gbias all have it (the
// model's compute weights and biases are bf16 where its activations are). Stores round through
// elem.cuh's st (the project's one rounding); beta 1 on a bf16 C reads it, adds in fp32, rounds once.
//   n in the GELU range [geluCol0, geluCol0 + geluCols), j = n - geluCol0:
//   gelu == MMA_GELU_BWD: v *= gelu'(gaux[m*ldg + j] + gbias[j])      (gaux = pre: GELU backward)
//   v (+= beta * C_old if beta != 0: beta 0 writes without reading C) (+ bias[n])
//     (+ res[(m % resRows)*ldr + n]);  C[m*ldc + n] = v (rounded to bf16 when T is bf16);
//   gelu == MMA_GELU_FWD: gaux[m*ldg + j] = GELU(v + gbias[j])          (the in-projection's MLP part)
// gbias may be null (read as 0). res may alias C (the out-projection's in-place residual): each
// element's res read and C write happen in one thread, in that order, so res is not __restrict__.
// The callers predicate m < M, n < N; the bias-gradient row sums (dbias) are the kernels' own.
#pragma once
#include "common.cuh"
#include "elem.cuh"

// The forms (MmaGemm.Form's ordinals): NT C = A B^T, NN C = A B, TN C = A^T B.
#define MMA_NT 0
#define MMA_NN 1
#define MMA_TN 2
#define MMA_GELU_NONE 0
#define MMA_GELU_FWD 1
#define MMA_GELU_BWD 2

template <class T> struct GemmEpilogue {
    float beta;
    T* C;
    long long ldc;
    const T* bias;
    const T* res;
    long long ldr;
    int resRows, gelu, geluKind, geluCol0, geluCols;
    T* gaux;
    long long ldg;
    const T* gbias;
};

// C's new value at (m, n) (fp32, before its rounding): all of the epilogue but C's store; writes the
// GELU forward output. Reads C (beta, an in-place residual) before the caller stores it.
template <class T> __device__ __forceinline__ float gemm_epilogue_value(const GemmEpilogue<T>& e, int m, int n, float v) {
    const int j = n - e.geluCol0;
    const bool inGelu = e.gelu != MMA_GELU_NONE && j >= 0 && j < e.geluCols;
    const float gb = inGelu && e.gbias ? ld(e.gbias + j) : 0.0f;
    if (e.gelu == MMA_GELU_BWD && inGelu) v *= gelu_grad_f(ld(e.gaux + (long long)m * e.ldg + j) + gb, e.geluKind);
    if (e.beta != 0.0f) v += e.beta * ld(e.C + (long long)m * e.ldc + n);
    if (e.bias) v += ld(e.bias + n);
    if (e.res) v += ld(e.res + (long long)(m % e.resRows) * e.ldr + n);
    if (e.gelu == MMA_GELU_FWD && inGelu) st(e.gaux + (long long)m * e.ldg + j, gelu_f(v + gb, e.geluKind));
    return v;
}

template <class T> __device__ __forceinline__ void gemm_epilogue_at(const GemmEpilogue<T>& e, int m, int n, float v) {
    st(e.C + (long long)m * e.ldc + n, gemm_epilogue_value(e, m, n, v));
}

#define MMA_RASTER 8

// Output tile number `tile` (of tilesY x tilesX) in the grouped raster: its row tm and column tn.
__device__ __forceinline__ void gemm_tile(int tile, int tilesX, int tilesY, int& tm, int& tn) {
    const int perGroup = MMA_RASTER * tilesX;
    const int first = tile / perGroup * MMA_RASTER, rows = min(tilesY - first, MMA_RASTER);
    tm = first + tile % perGroup % rows;
    tn = tile % perGroup / rows;
}

// This block's output tile when the grid is the tile grid (gridDim.y x gridDim.x), one tile a block.
__device__ __forceinline__ void gemm_tile_of_block(int& tm, int& tn) {
    gemm_tile(blockIdx.y * gridDim.x + blockIdx.x, gridDim.x, gridDim.y, tm, tn);
}
