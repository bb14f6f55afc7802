// Hopper (sm_90a) building blocks as inline PTX: mbarriers, TMA 2D tile copies (and their cluster
// multicast), thread-block cluster rank / barrier / remote mbarrier arrival, wgmma m64nNk16 bf16 ->
// fp32 from shared-memory descriptors, setmaxnreg: the API of HOPPER_API.md. nvcc emits the
// instructions themselves; the host emulator's emu/hopper.h defines the same functions from the
// PTX ISA, so a kernel's pipeline, descriptors and fragment arithmetic are tested in CI.
//
// The ISA facts the kernels rely on (PTX ISA 8.x):
// - mbarrier (64-bit, shared memory): a phase completes when its pending arrival count reaches 0
//   AND its transaction count is 0; arrive.expect_tx adds the bytes the async copies will deliver
//   before arriving; try_wait.parity p returns true once the phase with parity p has completed
//   (waiting for parity 1 on a fresh barrier returns at once: the "previous" phase counts as done).
// - cp.async.bulk.tensor.2d ... .mbarrier::complete_tx::bytes: copies one box of the tensor map;
//   out-of-bounds elements are written as zeros and still count in the transaction bytes (a box
//   always delivers boxRows x boxCols x elementBytes). Coordinates are {inner (column), outer
//   (row)} in elements; the shared destination is 128-byte aligned (1024 for 128B swizzle, since
//   the swizzle pattern is a function of the address bits 4-9).
// - 128B swizzle: within each 1024-byte block of eight 128-byte rows, the 16-byte chunk c of row r
//   lands at chunk c ^ (r & 7). TMA writes that pattern and wgmma reads it when its descriptor says
//   128B swizzle, so neither side needs the formula; a thread that reads a tile itself does.
// - wgmma matrix descriptor: bits 0-13 start address >> 4 (shared window), 16-29 leading byte
//   offset >> 4, 32-45 stride byte offset >> 4, 49-51 base offset (0: tiles 1024-byte aligned),
//   62-63 swizzle (1 = 128B). K-major 128B-swizzled operand (rows of 64 bf16 = 128 bytes): SBO =
//   1024 (the next 8 rows), LBO unused; the k-th 16-wide slice starts 32k bytes into the row.
//   MN-major 128B-swizzled (rows of 64 m or n, one per k): LBO = the next 64-column block, SBO =
//   1024 (the next 8 k), the k-th 16-slice starts 16 x 128 bytes further.
// - wgmma.mma_async: all 128 threads of a warpgroup (4 consecutive warps, the first a multiple of
//   4) execute it; it runs asynchronously: accumulator registers must not be touched until
//   wgmma.wait_group retires its commit group; wgmma.fence orders earlier register writes before it.
//   scale-d = 0 ignores D's old value (D = A B). Accumulator fragment of m64nN (fp32): warp w of
//   the group owns rows 16w..16w+15; d[4j + 0, 1] = (row g, cols 8j + 2t, +1), d[4j + 2, 3] = (row
//   g + 8, same cols), g = lane >> 2, t = lane & 3.
// - setmaxnreg.{inc,dec}.sync.aligned.u32 R: the whole warpgroup (every warp, before any exits) moves
//   its per-thread register allocation to R (24..256, multiple of 8). The CTA's pool is the cap at
//   entry (ptxas: 65,536 / the __launch_bounds__ threads, rounded down to 8: 168 at 384) times its
//   threads; .dec returns registers to it and .inc BLOCKS until it has them, so a budget over the
//   pool hangs the GPU (the emulator reports it as a deadlock). Without launch bounds ptxas ignores
//   setmaxnreg (C7508, which check-resources.sh fails on).
// - fence.proxy.async.shared::cta: generic-proxy shared-memory writes become visible to the async
//   proxy (TMA store and reduce-add, wgmma's shared-memory operands): each writing thread, after its
//   stores, before the barrier that hands the tile over. cp.async.bulk.wait_group.read 0: the
//   committed stores have finished reading shared memory, required before the box is rewritten and
//   before the issuing thread exits (its CTA's shared memory may go to the next block).
// - wgmma.fence: before each batch of wgmma (the first, and after any register access to its
//   accumulators or A fragments, e.g. after wgmma.wait_group and an epilogue or rescale).
// - wgmma with A from registers (.m64nNk16, bf16): four 32-bit registers per thread, warp w of the
//   group holding rows 16w..16w+15 of the 64 x 16 A in mma.m16n8k16's A fragment: register r holds
//   (row g + 8 (r & 1), cols 2t + 8 (r >> 1), +1), low half first. An fp32 accumulator fragment of
//   columns 16k..16k+15 (d[8k .. 8k+7]) packs pairwise into exactly that: {d0,d1}, {d2,d3}, {d4,d5}, {d6,d7}.
// - bar.sync / bar.arrive id, n: named barrier id (0 is __syncthreads') completes once n threads
//   (whole warps) arrived; sync waits for that, arrive does not.
// - Clusters (__cluster_dims__ on the kernel): the CTAs of a cluster run at once on SMs of one GPC
//   and reach each other's shared memory through .shared::cluster addresses (mapa maps a local
//   shared address to the same offset in CTA n). %cluster_ctarank / %cluster_nctarank: the CTA's
//   rank and the cluster's size. barrier.cluster.arrive.release + wait.acquire: all non-exited
//   threads of the cluster; the first one after mbarrier.init (with fence.mbarrier_init) makes the
//   barriers visible to the peers, the last one keeps a CTA's shared memory alive while peers may
//   still write it. cp.async.bulk.tensor ... .multicast::cluster with a 16-bit ctaMask writes the
//   box at the same offset in every CTA of the mask and performs complete_tx (the whole box's bytes)
//   on each one's mbarrier at the same offset.
// The nvcc branch is compiled only for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL): wgmma and setmaxnreg do
// not exist on sm_80 or in plain compute_90 PTX. HOPPER_KERNELS is 1 wherever these functions exist
// (sm_90a device code, the host emulator); kernels compile their bodies under it.
#pragma once
#include <cstdint>
#include <cuda.h>
#include <cuda_runtime.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
// A Hopper kernel's image for an older GPU is a trap the host never launches, and those GPUs have
// no clusters (nvcc refuses __cluster_dims__ there): the attribute is dropped from that image only.
#undef __cluster_dims__
#define __cluster_dims__(...)
#endif

#if !defined(__CUDACC__)
#define HOPPER_KERNELS 1
#include <emu/hopper.h>
// The emulator keeps wgmma results away from the registers until wgmma_wait: nothing to pin.
template <int R> __device__ inline void wgmma_pin(float (&)[R]) {}
#elif defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HOPPER_KERNELS 1

#define WG_SWIZZLE_NONE 0
#define WG_SWIZZLE_128B 1
#define WG_SWIZZLE_64B 2
#define WG_SWIZZLE_32B 3

// Generic -> shared-window address (32 bits), as the .shared::cta operands want it.
__device__ __forceinline__ unsigned hopper_smem(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// ---- mbarriers
__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned arrivals) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(hopper_smem(bar)), "r"(arrivals) : "memory");
}
__device__ __forceinline__ void mbar_fence_init() {
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
    asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];\n" :: "r"(hopper_smem(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.release.cta.shared::cta.b64 _, [%0], %1;\n"
                 :: "r"(hopper_smem(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned parity) {
    unsigned done;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.acquire.cta.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done) : "r"(hopper_smem(bar)), "r"(parity) : "memory");
    } while (!done);
}

// ---- TMA (the map is a __grid_constant__ kernel parameter: its generic address is what TMA takes)
__device__ __forceinline__ void tma_load_2d(void* smem, const CUtensorMap* map, int x, int y, uint64_t* bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
                 :: "r"(hopper_smem(smem)), "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(hopper_smem(bar))
                 : "memory");
}
__device__ __forceinline__ void tma_store_2d(const CUtensorMap* map, const void* smem, int x, int y) {
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];\n"
                 :: "l"(reinterpret_cast<uint64_t>(map)), "r"(hopper_smem(smem)), "r"(x), "r"(y) : "memory");
}
// cp.reduce.async.bulk.tensor.2d .add: each in-bounds element of the global box += the shared box's
// (atomically per element, the element type the map's: fp32 here); a bulk_group like tma_store_2d.
__device__ __forceinline__ void tma_reduce_add_2d(const CUtensorMap* map, const void* smem, int x, int y) {
    asm volatile("cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%2, %3}], [%1];\n"
                 :: "l"(reinterpret_cast<uint64_t>(map)), "r"(hopper_smem(smem)), "r"(x), "r"(y) : "memory");
}
__device__ __forceinline__ void tma_store_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void tma_store_wait() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// ---- clusters
__device__ __forceinline__ unsigned cluster_ctarank() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}
__device__ __forceinline__ unsigned cluster_nctas() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(r));
    return r;
}
// Not .aligned: the threads of a warp may come from different paths (a producer's one lane).
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive_cluster(uint64_t* bar, unsigned cta) {
    asm volatile("{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
                 "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [remote];\n}\n"
                 :: "r"(hopper_smem(bar)), "r"(cta) : "memory");
}
__device__ __forceinline__ void tma_load_2d_multicast(void* smem, const CUtensorMap* map, int x, int y, uint64_t* bar,
                                                      uint16_t ctaMask) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
                 " [%0], [%1, {%2, %3}], [%4], %5;\n"
                 :: "r"(hopper_smem(smem)), "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(hopper_smem(bar)),
                    "h"(ctaMask)
                 : "memory");
}

// ---- wgmma
__device__ __forceinline__ uint64_t wgmma_desc(const void* smem, int swizzle, unsigned lbo_bytes, unsigned sbo_bytes) {
    return (uint64_t)((hopper_smem(smem) & 0x3ffff) >> 4) | (uint64_t)((lbo_bytes & 0x3ffff) >> 4) << 16
         | (uint64_t)((sbo_bytes & 0x3ffff) >> 4) << 32 | (uint64_t)swizzle << 62;
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory");
}
// Ties the accumulators to this point of the program: the compiler may not move their reads or
// writes across it (after wgmma_wait, before the epilogue reads them; before wgmma_fence).
template <int R> __device__ __forceinline__ void wgmma_pin(float (&d)[R]) {
    #pragma unroll
    for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i]) :: "memory");
}

// The accumulator operands of a wgmma's inline asm, written once: WG_D_REGS<R> is the register list
// "%0,...,%R-1" of the instruction's D and WG_D_OUT<R> its R "+f"(d[i]) constraints, for R = 32, 64
// and 128 floats a thread (N = 64, 128, 256); the instruction's other operands follow from %R on.
#define WG_D_REGS32 \
    "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15" \
    "," "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
#define WG_D_REGS64 WG_D_REGS32 \
    "," "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47" \
    "," "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
#define WG_D_REGS128 WG_D_REGS64 \
    "," "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79" \
    "," "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95" \
    "," "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111" \
    "," "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"
#define WG_D_OUT32 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define WG_D_OUT64 WG_D_OUT32, \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define WG_D_OUT128 WG_D_OUT64, \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

template <int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_n64(float (&d)[32], uint64_t a, uint64_t b, int scaleD) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" WG_D_REGS32 "}, %32, %33, p, 1, 1, %35, %36;\n}\n"
                 : WG_D_OUT32
                 : "l"(a), "l"(b), "r"(scaleD), "n"(TRANS_A), "n"(TRANS_B));
}
template <int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_n128(float (&d)[64], uint64_t a, uint64_t b, int scaleD) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" WG_D_REGS64 "}, %64, %65, p, 1, 1, %67, %68;\n}\n"
                 : WG_D_OUT64
                 : "l"(a), "l"(b), "r"(scaleD), "n"(TRANS_A), "n"(TRANS_B));
}
template <int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_n256(float (&d)[128], uint64_t a, uint64_t b, int scaleD) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" WG_D_REGS128 "}, %128, %129, p, 1, 1, %131, %132;\n}\n"
                 : WG_D_OUT128
                 : "l"(a), "l"(b), "r"(scaleD), "n"(TRANS_A), "n"(TRANS_B));
}

template <int N, int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_bf16(float (&d)[N / 2], uint64_t a, uint64_t b, int scaleD) {
    static_assert(N == 64 || N == 128 || N == 256, "wgmma_bf16: N is 64, 128 or 256 here");
    if constexpr (N == 64) wgmma_bf16_n64<TRANS_A, TRANS_B>(d, a, b, scaleD);
    else if constexpr (N == 128) wgmma_bf16_n128<TRANS_A, TRANS_B>(d, a, b, scaleD);
    else wgmma_bf16_n256<TRANS_A, TRANS_B>(d, a, b, scaleD);
}

// ---- named barriers (owner: fa3fwd; HOPPER_API.md): bar.sync waits until `threads` arrivals (its own
// warp's included) completed the episode of barrier `id` (1..15; 0 is __syncthreads); bar.arrive adds
// the calling warp's arrivals and goes on. threads: a multiple of 32 (whole warps arrive).
__device__ __forceinline__ void named_bar_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_bar_arrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" :: "r"(id), "r"(threads) : "memory");
}

// ---- wgmma with A from registers (owner: fa3fwd): D (64 x N) = A (64 x 16) B (16 x N) + (scaleD ? D : 0),
// A in four registers per thread (warp w of the group holds rows 16w..16w+15 in mma.m16n8k16's A
// fragment, two bf16 per register, low half first), B from its descriptor (TRANS_B as wgmma_bf16's;
// register A has no transpose). The A registers must not change until the wgmma retires.
template <int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_rs_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t b, int scaleD) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" WG_D_REGS32 "}, {%32,%33,%34,%35}, %36, p, 1, 1, %38;\n}\n"
                 : WG_D_OUT32
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(scaleD), "n"(TRANS_B));
}
template <int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t b, int scaleD) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" WG_D_REGS64 "}, {%64,%65,%66,%67}, %68, p, 1, 1, %70;\n}\n"
                 : WG_D_OUT64
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(scaleD), "n"(TRANS_B));
}
template <int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_rs_n256(float (&d)[128], const uint32_t (&a)[4], uint64_t b, int scaleD) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" WG_D_REGS128 "}, {%128,%129,%130,%131}, %132, p, 1, 1, %134;\n}\n"
                 : WG_D_OUT128
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(scaleD), "n"(TRANS_B));
}

template <int N, int TRANS_B>
__device__ __forceinline__ void wgmma_bf16_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b, int scaleD) {
    static_assert(N == 64 || N == 128 || N == 256, "wgmma_bf16_rs: N is 64, 128 or 256 here");
    if constexpr (N == 64) wgmma_bf16_rs_n64<TRANS_B>(d, a, b, scaleD);
    else if constexpr (N == 128) wgmma_bf16_rs_n128<TRANS_B>(d, a, b, scaleD);
    else wgmma_bf16_rs_n256<TRANS_B>(d, a, b, scaleD);
}

template <int REGS> __device__ __forceinline__ void setmaxnreg_inc() {
    static_assert(REGS >= 24 && REGS <= 256 && REGS % 8 == 0, "setmaxnreg takes 24..256, a multiple of 8");
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(REGS));
}
template <int REGS> __device__ __forceinline__ void setmaxnreg_dec() {
    static_assert(REGS >= 24 && REGS <= 256 && REGS % 8 == 0, "setmaxnreg takes 24..256, a multiple of 8");
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(REGS));
}
#endif
