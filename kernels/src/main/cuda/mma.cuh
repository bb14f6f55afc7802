// Tensor-core building blocks as inline PTX (sm_80+): mma.sync m16n8k16 bf16 x bf16 -> fp32 and
// ldmatrix m8n8 .x1/.x2/.x4 [.trans] of b16. nvcc emits the instructions themselves; the host
// emulator (kernels/src/emu) maps the same functions onto warp-collective operations that follow
// the PTX ISA's fragment tables (emu/device.h states them), so a kernel's lane arithmetic is
// tested in CI exactly as the GPU will run it.
//
// Fragments (PTX ISA, "Matrix fragments for mma.m16n8k16" with .bf16), g = lane >> 2, t = lane & 3;
// a register holds two bf16, the lower-indexed element in the low 16 bits:
//   A (16 x 16, row = m, col = k): a[0] (g, 2t..2t+1), a[1] (g+8, 2t..), a[2] (g, 2t+8..), a[3] (g+8, 2t+8..)
//   B (16 x 8,  row = k, col = n): b[0] (2t..2t+1, g), b[1] (2t+8..2t+9, g)
//   C, D (16 x 8, fp32):           c[0], c[1] (g, 2t..2t+1), c[2], c[3] (g+8, 2t..2t+1)
// ldmatrix: lane 8j + i supplies the address of row i of matrix j (16 bytes, 16-byte aligned, in
// shared memory; lanes past the matrices used give addresses that are ignored) and lane l receives
// in register j the elements (l >> 2, 2(l & 3)) and (l >> 2, 2(l & 3) + 1) of matrix j, or with
// .trans those of its transpose: (2(l & 3), l >> 2) and (2(l & 3) + 1, l >> 2).
// All of these are .sync.aligned: the whole warp executes them together.
#pragma once
#include <cuda_runtime.h>

#ifdef __CUDACC__

// Generic -> shared-window address, as ldmatrix's [addr] operand wants it.
__device__ __forceinline__ unsigned smem_u32(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                   "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void ldmatrix_x1(unsigned r[1], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(smem_u32(row)));
}
__device__ __forceinline__ void ldmatrix_x2(unsigned r[2], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smem_u32(row)));
}
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(row)));
}
__device__ __forceinline__ void ldmatrix_x1_trans(unsigned r[1], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(smem_u32(row)));
}
__device__ __forceinline__ void ldmatrix_x2_trans(unsigned r[2], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1]) : "r"(smem_u32(row)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned r[4], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(row)));
}

#else  // the host emulator: each call is a whole-warp rendezvous at its call site

__device__ __forceinline__ void mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4],
                                               ::emu::Site s = ::emu::Site::current()) {
    ::emu::mma_m16n8k16_bf16(d, a, b, c, s);
}
#define EMU_LDMATRIX(name, n, trans)                                                                   \
    __device__ __forceinline__ void name(unsigned r[n], const void* row, ::emu::Site s = ::emu::Site::current()) { \
        ::emu::ldmatrix(r, row, n, trans, s);                                                          \
    }
EMU_LDMATRIX(ldmatrix_x1, 1, false)
EMU_LDMATRIX(ldmatrix_x2, 2, false)
EMU_LDMATRIX(ldmatrix_x4, 4, false)
EMU_LDMATRIX(ldmatrix_x1_trans, 1, true)
EMU_LDMATRIX(ldmatrix_x2_trans, 2, true)
EMU_LDMATRIX(ldmatrix_x4_trans, 4, true)
#undef EMU_LDMATRIX

#endif
