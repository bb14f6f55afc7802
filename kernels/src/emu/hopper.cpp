// Hopper's asynchronous machinery for the emulated device, from the PTX ISA: mbarriers (arrival
// count, pending count, tx-count, phase), the tensor memory accelerator's 2D tile copies through
// a CUtensorMap (box, zero fill out of bounds, the 32/64/128-byte swizzle modes), and the
// decoding of wgmma's shared-memory matrix descriptors (canonical K-major and MN-major layouts).
// The warpgroup rendezvous and the in-flight accumulators live in runtime.cpp with the scheduler.
//
// Schedule the emulator picks (legal for the hardware): a TMA copy completes at issue (the bytes
// land and complete_tx is performed before tma_load_2d returns); a TMA store has written global
// memory when tma_store_2d returns; a wgmma computes at issue, and its result reaches the
// registers when wgmma_wait retires its group (NaN until then).
//
// Compiled like runtime.cpp (no TSan instrumentation; barriers annotated): an mbarrier arrival and
// complete_tx release the barrier, a satisfied wait acquires it, so TSan orders a TMA copy (a
// memcpy by the issuing thread) before the reads of the threads that waited for it.
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include "emu/device.h"

#include "tsan_hooks.h"

namespace emu {
namespace {

std::string at(const char* what, const Site& s) {
    const char* f = std::strrchr(s.file_name(), '/');
    return std::string(what) + " (" + (f ? f + 1 : s.file_name()) + ":" + std::to_string(s.line()) + ")";
}
[[noreturn]] void failm(const std::string& m) { fail("%s", m.c_str()); }

// ---- mbarrier: the 64-bit object in shared memory holds the whole state (PTX ISA, mbarrier
// contents): bits 0-19 pending arrivals of the current phase, 20-39 the expected arrival count,
// 40-60 tx-count (21-bit two's complement, range +-(2^20 - 1)), 61 the current phase's parity,
// 62-63 = 01 once initialised (NaN-filled shared memory reads 11: use before mbar_init is caught).
constexpr uint64_t kInit = 1ull << 62, kTagMask = 3ull << 62;
constexpr int64_t kTxMax = (1 << 20) - 1;
struct Bar {
    unsigned pending, expected, phase;
    int64_t tx;
};
Bar unpack(uint64_t w) {
    int64_t tx = (int64_t)((w >> 40) & 0x1fffff);
    if (tx & 0x100000) tx -= 0x200000;
    return {(unsigned)(w & 0xfffff), (unsigned)((w >> 20) & 0xfffff), (unsigned)((w >> 61) & 1), tx};
}
uint64_t pack(const Bar& b) {
    return kInit | (uint64_t)b.pending | (uint64_t)b.expected << 20 | ((uint64_t)b.tx & 0x1fffff) << 40 | (uint64_t)b.phase << 61;
}
void check_initialised(const uint64_t* w, const char* what, const Site& site) {
    if ((*w & kTagMask) != kInit) failm(at(what, site) + ": the mbarrier was not initialised (mbar_init) in this block");
}
// bar's offset in this CTA's shared window (8-byte aligned).
uint32_t bar_offset(const uint64_t* bar, const char* what, const Site& site) {
    if (reinterpret_cast<uintptr_t>(bar) & 7) failm(at(what, site) + ": the mbarrier is not 8-byte aligned");
    return shared_offset(bar, 8, (at(what, site) + ": the mbarrier").c_str());
}
uint64_t* bar_word(uint64_t* bar, const char* what, const Site& site) {
    bar_offset(bar, what, site);
    check_initialised(bar, what, site);
    return bar;
}
// CTA cta's mbarrier at bar's offset (this CTA's own when cta is its rank), initialised.
uint64_t* peer_bar_word(uint64_t* bar, unsigned cta, const char* what, const Site& site) {
    const uint32_t off = bar_offset(bar, what, site);
    uint64_t* p = static_cast<uint64_t*>(cluster_shared_at(cta, off, 8, at(what, site).c_str(), true));
    check_initialised(p, what, site);
    return p;
}
// The phase completes when every expected arrival came and the tx-count is back to 0.
void settle(uint64_t* w, Bar b) {
    if (b.pending == 0 && b.tx == 0) {
        b.phase ^= 1;
        b.pending = b.expected;
    }
    *w = pack(b);
}
void add_tx(uint64_t* w, int64_t delta, const char* what, const Site& site) {
    Bar b = unpack(*w);
    const int64_t tx = b.tx + delta;
    if (tx > kTxMax || tx < -kTxMax)
        failm(at(what, site) + ": the mbarrier's tx-count leaves its range +-(2^20-1) (" + std::to_string(tx) + ")");
    b.tx = tx;
    settle(w, b);
}
struct WaitArg {
    const uint64_t* bar;
    unsigned parity;
};
// try_wait.parity: true once the phase with this parity completed, i.e. the current phase differs.
bool phase_done(const void* a) {
    const WaitArg* w = static_cast<const WaitArg*>(a);
    return unpack(*w->bar).phase != (w->parity & 1);
}

// ---- CUtensorMap, the emulator's 128-byte encoding (emu_encode_tensor_map writes it; README):
// u64 magic, u64 global address, u64 rows (outer), u64 cols (inner), u64 row stride in bytes,
// u32 element bytes, u32 box rows, u32 box cols, u32 swizzle (CUtensorMapSwizzle: 0 none, 1 32B,
// 2 64B, 3 128B), zeros to 128 bytes.
constexpr uint64_t kMapMagic = 0x3150414d54554d45ull;   // "EMUTMAP1"
struct Map {
    uint64_t magic, address, rows, cols, stride;
    uint32_t elem, box_rows, box_cols, swizzle;
};
static_assert(sizeof(Map) <= 128);
constexpr unsigned kSwizzleSpan[4] = {0, 32, 64, 128};

// The driver's rules for cuTensorMapEncodeTiled (2D, interleave none, element strides 1): "" or why not.
std::string check_map(const Map& m) {
    if (m.elem != 1 && m.elem != 2 && m.elem != 4 && m.elem != 8) return "element size " + std::to_string(m.elem) + " bytes (1, 2, 4 or 8)";
    if (m.address & 15) return "global address " + std::to_string(m.address) + " is not 16-byte aligned";
    if (m.rows < 1 || m.cols < 1 || m.rows > (1ull << 32) || m.cols > (1ull << 32))
        return "dimensions " + std::to_string(m.rows) + " x " + std::to_string(m.cols) + " (each 1 .. 2^32)";
    if (m.stride % 16 || m.stride >= (1ull << 40)) return "row stride " + std::to_string(m.stride) + " bytes is not a multiple of 16 below 2^40";
    if (m.stride < m.cols * m.elem)
        return "row stride " + std::to_string(m.stride) + " bytes is shorter than a row (" + std::to_string(m.cols * m.elem) + " bytes)";
    if (m.box_rows < 1 || m.box_rows > 256 || m.box_cols < 1 || m.box_cols > 256)
        return "box " + std::to_string(m.box_rows) + " x " + std::to_string(m.box_cols) + " (each 1 .. 256)";
    const uint64_t inner = (uint64_t)m.box_cols * m.elem;
    if (inner % 16) return "box row of " + std::to_string(inner) + " bytes is not a multiple of 16";
    if (m.swizzle > 3) return "swizzle mode " + std::to_string(m.swizzle) + " (0 none, 1 32B, 2 64B, 3 128B)";
    if (m.swizzle && inner > kSwizzleSpan[m.swizzle])
        return "box row of " + std::to_string(inner) + " bytes exceeds the " + std::to_string(kSwizzleSpan[m.swizzle]) +
               "-byte swizzle span (narrow the box or widen the swizzle)";
    return "";
}

Map map_of(const void* p, const char* what, const Site& site) {
    Map m;
    std::memcpy(&m, p, sizeof m);
    if (m.magic != kMapMagic) failm(at(what, site) + ": the tensor map is not one emu_encode_tensor_map made (EncodeTensorMap on this device)");
    const std::string e = check_map(m);
    if (!e.empty()) failm(at(what, site) + ": bad tensor map: " + e);
    return m;
}

// The swizzle modes permute the 16-byte chunks of each span-byte row by the row's position in the
// pattern: shared-window address bits [4, 4+b) ^= bits [7, 7+b), b = 1, 2, 3 for 32B, 64B, 128B
// (the pattern repeats every 256, 512, 1024 bytes). `mode` is the bit count b (0: none).
uint32_t swizzle(uint32_t off, int bits) {
    if (!bits) return off;
    const uint32_t mask = (1u << bits) - 1;
    return off ^ (((off >> 7) & mask) << 4);
}
int bits_of_tma(uint32_t cu) { return cu == 1 ? 1 : cu == 2 ? 2 : cu == 3 ? 3 : 0; }
int bits_of_desc(unsigned mode) { return mode == 1 ? 3 : mode == 2 ? 2 : mode == 3 ? 1 : 0; }

// One TMA box: element (r, c) of the box is byte r * rowBytes + c * elem of the (unswizzled) box
// image at smem; fn(shared pointer, global pointer or null when out of bounds, elem bytes).
// The box's shared-window offset (in this CTA's window, 128-byte aligned).
uint32_t box_offset(const Map& m, const void* smem, const char* what, const Site& site) {
    const uint32_t base = shared_offset(smem, m.box_rows * m.box_cols * m.elem, (at(what, site) + ": the shared-memory box").c_str());
    if (base & 127) failm(at(what, site) + ": the shared-memory box at window offset " + std::to_string(base) + " is not 128-byte aligned");
    return base;
}
// smem is the box's first byte, at window offset base (of whichever CTA's window it lies in).
template <class F> void each_box_element(const Map& m, void* smem, uint32_t base, int x, int y, F fn) {
    const uint32_t row_bytes = m.box_cols * m.elem;
    const int bits = bits_of_tma(m.swizzle);
    for (uint32_t r = 0; r < m.box_rows; r++)
        for (uint32_t c = 0; c < m.box_cols; c++) {
            const long long gy = (long long)y + r, gx = (long long)x + c;
            const bool in = gy >= 0 && gx >= 0 && (uint64_t)gy < m.rows && (uint64_t)gx < m.cols;
            const uint32_t off = swizzle(base + r * row_bytes + c * m.elem, bits);
            char* s = static_cast<char*>(smem) + (off - base);
            char* g = in ? reinterpret_cast<char*>(m.address + (uint64_t)gy * m.stride + (uint64_t)gx * m.elem) : nullptr;
            fn(s, g, m.elem);
        }
}

}  // namespace

// ---- mbarrier

void mbar_init(uint64_t* bar, unsigned count, Site site) {
    const uint32_t off = bar_offset(bar, "mbar_init", site);
    if (count < 1 || count > (1u << 20) - 1) failm(at("mbar_init", site) + ": arrival count " + std::to_string(count) + " (1 .. 2^20-1)");
    *bar = pack({count, count, 0, 0});
    mbar_note_init(off);
}

namespace {
// One arrival (after tx_bytes of expect-tx) on the barrier word w.
void arrive_on(uint64_t* w, unsigned tx_bytes, const char* what, const Site& site) {
    if (tx_bytes) add_tx(w, tx_bytes, what, site);   // expect-tx first, then the arrival (PTX order)
    Bar b = unpack(*w);
    if (b.pending == 0)
        failm(at(what, site) + ": more arrivals than the mbarrier's count (" + std::to_string(b.expected) + ") in phase parity " +
              std::to_string(b.phase) + " (it still waits for " + std::to_string(b.tx) + " tx bytes)");
    b.pending--;
    TSAN_RELEASE(w);
    settle(w, b);
}
}  // namespace

void mbar_arrive(uint64_t* bar, unsigned tx_bytes, Site site) {
    const char* what = tx_bytes ? "mbar_arrive_expect_tx" : "mbar_arrive";
    arrive_on(bar_word(bar, what, site), tx_bytes, what, site);
}

// The release orders this thread's writes before the peer's acquire (mbar_wait) on the same word.
void mbar_arrive_cluster(uint64_t* bar, unsigned cta, Site site) {
    arrive_on(peer_bar_word(bar, cta, "mbar_arrive_cluster", site), 0, "mbar_arrive_cluster", site);
}

void mbar_wait(uint64_t* bar, unsigned parity, Site site) {
    const WaitArg a{bar_word(bar, "mbar_wait", site), parity};
    wait_until(phase_done, &a, "mbar_wait", site);
    TSAN_ACQUIRE(bar);
}

// ---- TMA

namespace {
void load_element(char* s, const char* g, uint32_t n) {
    if (g) std::memcpy(s, g, n);
    else std::memset(s, 0, n);
}
}  // namespace

void tma_load_2d(void* smem, const void* map, int x, int y, uint64_t* bar, Site site) {
    const Map m = map_of(map, "tma_load_2d", site);
    uint64_t* w = bar_word(bar, "tma_load_2d", site);
    each_box_element(m, smem, box_offset(m, smem, "tma_load_2d", site), x, y, load_element);
    async_proxy_wrote(smem, m.box_rows * m.box_cols * m.elem);
    // complete_tx of the whole box (out-of-bounds bytes included, as the hardware counts them).
    TSAN_RELEASE(bar);
    add_tx(w, -(int64_t)(m.box_rows * m.box_cols * m.elem), "tma_load_2d", site);
}

// Every target is checked before any byte moves; then each CTA of the mask gets the box and the
// complete_tx on its barrier, which releases the copy to that CTA's waiters.
void tma_load_2d_multicast(void* smem, const void* map, int x, int y, uint64_t* bar, uint16_t cta_mask, Site site) {
    const char* what = "tma_load_2d_multicast";
    const Map m = map_of(map, what, site);
    const unsigned n = cluster_size();
    if (cta_mask == 0) failm(at(what, site) + ": the CTA mask is empty");
    if (cta_mask >> n)
        failm(at(what, site) + ": the CTA mask 0x" + [&] { char b[8]; std::snprintf(b, sizeof b, "%04x", cta_mask); return std::string(b); }() +
              " names CTA " + std::to_string(31 - __builtin_clz((unsigned)cta_mask)) + ", outside this cluster of " + std::to_string(n) +
              " CTA(s)");
    const uint32_t base = box_offset(m, smem, what, site), bytes = m.box_rows * m.box_cols * m.elem;
    char* dst[16];
    uint64_t* w[16];
    for (unsigned r = 0; r < n; r++)
        if ((cta_mask >> r) & 1) {
            dst[r] = static_cast<char*>(cluster_shared_at(r, base, bytes, (at(what, site) + ": the box in CTA " + std::to_string(r)).c_str(), false));
            w[r] = peer_bar_word(bar, r, what, site);
        }
    for (unsigned r = 0; r < n; r++)
        if ((cta_mask >> r) & 1) {
            each_box_element(m, dst[r], base, x, y, load_element);
            async_proxy_wrote(dst[r], bytes);
            TSAN_RELEASE(w[r]);
            add_tx(w[r], -(int64_t)bytes, what, site);
        }
}

// The box's bytes as read: through the async proxy (a generic store since the last fence_proxy_async
// is an error), and kept until tma_store_wait (a change before then is an error).
static void bulk_read(const Map& m, const void* smem, const char* what, const Site& site) {
    const size_t n = (size_t)m.box_rows * m.box_cols * m.elem;
    async_proxy_reads(smem, n, at(what, site).c_str());
    bulk_issue(smem, n, what, site);
}

void tma_store_2d(const void* map, const void* smem, int x, int y, Site site) {
    const Map m = map_of(map, "tma_store_2d", site);
    box_offset(m, smem, "tma_store_2d", site);
    bulk_read(m, smem, "tma_store_2d", site);
    each_box_element(m, const_cast<void*>(smem), box_offset(m, smem, "tma_store_2d", site), x, y, [](char* s, char* g, uint32_t n) {
        if (g) std::memcpy(g, s, n);
    });
}

// Atomic per element (other blocks reduce into the same rows concurrently); fp32 only (what the
// kernels use; the hardware also adds integer and 16-bit float types).
void tma_reduce_add_2d(const void* map, const void* smem, int x, int y, Site site) {
    const Map m = map_of(map, "tma_reduce_add_2d", site);
    if (m.elem != 4) failm(at("tma_reduce_add_2d", site) + ": the emulator reduce-adds fp32 maps only (element bytes 4, got " +
                           std::to_string(m.elem) + ")");
    box_offset(m, smem, "tma_reduce_add_2d", site);
    bulk_read(m, smem, "tma_reduce_add_2d", site);
    each_box_element(m, const_cast<void*>(smem), box_offset(m, smem, "tma_reduce_add_2d", site), x, y, [](char* s, char* g, uint32_t) {
        if (!g) return;
        float v;
        std::memcpy(&v, s, 4);
        std::atomic_ref<float>(*reinterpret_cast<float*>(g)).fetch_add(v, std::memory_order_relaxed);
    });
}

// ---- wgmma descriptors

uint64_t wgmma_desc(const void* smem, int swizzle_mode, unsigned lbo, unsigned sbo, Site site) {
    const uint32_t off = shared_offset(smem, 16, (at("wgmma_desc", site) + ": the matrix start").c_str());
    if (off >= (1u << 18)) failm(at("wgmma_desc", site) + ": shared-window offset " + std::to_string(off) + " does not fit the descriptor's 18 bits");
    if ((off | lbo | sbo) & 15) failm(at("wgmma_desc", site) + ": start, LBO and SBO must be multiples of 16 bytes");
    if (lbo >= (1u << 18) || sbo >= (1u << 18)) failm(at("wgmma_desc", site) + ": LBO or SBO of 2^18 bytes or more");
    if (swizzle_mode < 0 || swizzle_mode > 3) failm(at("wgmma_desc", site) + ": swizzle mode " + std::to_string(swizzle_mode) + " (0 none, 1 128B, 2 64B, 3 32B)");
    return (uint64_t)(off >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32 | (uint64_t)swizzle_mode << 62;
}

// Element (i, k) of an mn x 16 bf16 operand (PTX ISA, shared memory matrix layout; T = 8 elements
// = 16 bytes; W = the swizzle span in bytes):
//   K-major, no swizzle:  start + (i%8)*16 + (i/8)*SBO + (k%8)*2 + (k/8)*LBO     (8x8 core matrices)
//   K-major, swizzled:    start + (i%8)*W  + (i/8)*SBO + k*2                      (LBO unused)
//   MN-major, no swizzle: start + (i%8)*2  + (i/8)*SBO + (k%8)*16 + (k/8)*LBO
//   MN-major, swizzled:   start + (i%E)*2  + (i/E)*LBO + (k%8)*W  + (k/8)*SBO     (E = W/2 elements)
// then the swizzle permutes address bits as TMA's does.
void wgmma_operand(uint64_t desc, int trans, int mn, float (*out)[16], const char* which, Site site) {
    const uint32_t start = (uint32_t)(desc & 0x3fff) << 4, lbo = (uint32_t)((desc >> 16) & 0x3fff) << 4,
                   sbo = (uint32_t)((desc >> 32) & 0x3fff) << 4, base_offset = (uint32_t)((desc >> 49) & 7);
    const unsigned mode = (unsigned)(desc >> 62);
    const std::string w = at("wgmma.mma_async", site) + ": operand " + which;
    if (base_offset) failm(w + ": the descriptor's matrix base offset is not 0 (patterns not starting at their repeat boundary are not modelled)");
    const int bits = bits_of_desc(mode);
    const uint32_t span = bits ? 16u << bits : 0;
    // With base offset 0 the GPU takes the pattern to start at the operand (its rows r = 0.. are the
    // pattern's); the emulator swizzles by the absolute window address. The two agree when the start
    // lies on a pattern row 0 (bits 7.. of the address clear; the k-advance of 32 bytes inside a row
    // is fine), so another start is refused rather than decoded one way of two.
    if (bits && ((start >> 7) & ((1u << bits) - 1)))
        failm(w + ": a swizzled operand starting at shared offset " + std::to_string(start) + ", row " +
              std::to_string((start >> 7) & ((1u << bits) - 1)) + " of its " + std::to_string(128u << bits) +
              "-byte pattern: start operands on a pattern boundary (bits 7.. of the offset clear)");
    for (int i = 0; i < mn; i++)
        for (int k = 0; k < 16; k++) {
            uint32_t a;
            if (!trans) a = bits ? start + (i % 8) * span + (i / 8) * sbo + k * 2 : start + (i % 8) * 16 + (i / 8) * sbo + (k % 8) * 2 + (k / 8) * lbo;
            else if (!bits) a = start + (i % 8) * 2 + (i / 8) * sbo + (k % 8) * 16 + (k / 8) * lbo;
            else {
                const int e = (int)span / 2;
                a = start + (i % e) * 2 + (i / e) * lbo + (k % 8) * span + (k / 8) * sbo;
            }
            const void* p = shared_at(swizzle(a, bits), 2, w.c_str());
            async_proxy_reads(p, 2, w.c_str());
            uint16_t h;
            std::memcpy(&h, p, 2);   // memcpy: TSan sees the read, by the thread that completed the rendezvous
            const uint32_t u = (uint32_t)h << 16;
            std::memcpy(&out[i][k], &u, 4);
        }
}

}  // namespace emu

// ---- C ABI: the JVM's EmulatedRuntime.encodeTensorMap and the C++ tests encode maps here.
extern "C" __attribute__((visibility("default"))) int emu_encode_tensor_map(
    unsigned long long address, unsigned long long rows, unsigned long long cols, unsigned long long row_stride_bytes,
    unsigned elem_bytes, unsigned box_rows, unsigned box_cols, unsigned swizzle, void* out128, char* err,
    unsigned long long errlen) {
    emu::Map m{emu::kMapMagic, address, rows, cols, row_stride_bytes, elem_bytes, box_rows, box_cols, swizzle};
    const std::string e = emu::check_map(m);
    if (!e.empty()) {
        if (err && errlen) std::snprintf(err, errlen, "%s", e.c_str());
        return 1;
    }
    std::memset(out128, 0, 128);
    std::memcpy(out128, &m, sizeof m);
    return 0;
}
