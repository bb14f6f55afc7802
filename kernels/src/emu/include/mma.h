// nvcuda::wmma for m16n16k16, bf16 multiplicands, fp32 accumulator: the shape our kernels use.
// Fragment layouts: emu::wmma_frag_row / wmma_frag_col (emu/device.h).
// Every op is a whole-warp barrier (all 32 lanes, same pointer and ldm, else emu_launch fails);
// loads and stores move each lane's own elements in that lane, after the barrier.
#pragma once
#include <cstdint>
#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <class T> inline void check_ptr(const char* what, const T* p, unsigned ldm) {
    if ((reinterpret_cast<uintptr_t>(p) & 31) != 0)
        ::emu::fail("%s: pointer %p is not 256-bit aligned", what, (const void*)p);
    if (ldm % (16 / sizeof(T)) != 0)
        ::emu::fail("%s: ldm %u is not a multiple of %zu elements", what, ldm, 16 / sizeof(T));
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "emulated wmma supports m16n16k16 only");
    static_assert(std::is_same_v<Use, accumulator> ? std::is_same_v<T, float> : std::is_same_v<T, __nv_bfloat16>,
                  "emulated wmma supports bf16 multiplicands and fp32 accumulators only");
    static constexpr int num_elements = 8;
    T x[8];
};

template <class Use, class T, class L, class V>
inline void fill_fragment(fragment<Use, 16, 16, 16, T, L>& f, const V& v) {
    for (int i = 0; i < 8; i++) {
        if constexpr (std::is_same_v<T, __nv_bfloat16>) f.x[i] = __float2bfloat16((float)v);
        else f.x[i] = T(v);
    }
}

// A or B from memory; Layout says how the matrix lies in memory (element (r, c) of A at
// p[r*ldm + c] row-major, p[c*ldm + r] col-major; for B, r is k and c is n).
template <class Use, class L>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, L>& f, const __nv_bfloat16* p, unsigned ldm,
                             ::emu::Site s = ::emu::Site::current()) {
    static_assert(std::is_same_v<L, row_major> || std::is_same_v<L, col_major>, "multiplicand needs a layout");
    const bool isB = std::is_same_v<Use, matrix_b>;
    const bool row = std::is_same_v<L, row_major>;
    detail::check_ptr("load_matrix_sync", p, ldm);
    ::emu::warp_collective("load_matrix_sync", p, ldm, row, s);
    const int lane = ::emu::tl_regs->lane;
    for (int i = 0; i < 8; i++) {
        int r = ::emu::wmma_frag_row(isB, lane, i), c = ::emu::wmma_frag_col(isB, lane, i);
        f.x[i] = row ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
    }
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm, layout_t layout,
                             ::emu::Site s = ::emu::Site::current()) {
    detail::check_ptr("load_matrix_sync", p, ldm);
    ::emu::warp_collective("load_matrix_sync", p, ldm, layout, s);
    const int lane = ::emu::tl_regs->lane;
    for (int i = 0; i < 8; i++) {
        int r = ::emu::wmma_frag_row(0, lane, i), c = ::emu::wmma_frag_col(0, lane, i);
        f.x[i] = layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
    }
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t layout,
                              ::emu::Site s = ::emu::Site::current()) {
    detail::check_ptr("store_matrix_sync", p, ldm);
    ::emu::warp_collective("store_matrix_sync", p, ldm, layout, s);
    const int lane = ::emu::tl_regs->lane;
    for (int i = 0; i < 8; i++) {
        int r = ::emu::wmma_frag_row(0, lane, i), c = ::emu::wmma_frag_col(0, lane, i);
        (layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.x[i];
    }
}

template <class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c, ::emu::Site s = ::emu::Site::current()) {
    static_assert(sizeof(__nv_bfloat16) == 2);
    ::emu::wmma_mma_bf16(d.x, reinterpret_cast<const uint16_t*>(a.x), reinterpret_cast<const uint16_t*>(b.x), c.x, s);
}

}  // namespace wmma
}  // namespace nvcuda
