// The emulated device: every CUDA thread is a fiber with its own stack, a block's fibers take turns
// on one OS thread (cooperatively: a fiber runs until it waits at a barrier or exits), blocks run
// in parallel on worker threads. Barriers and warp exchanges are real rendezvous that report
// deadlock, divergence (two call sites meeting), exited threads and bad masks as errors of
// emu_launch. Context switches are a few instructions of x86-64 assembly (swapcontext would make
// a sigprocmask system call per switch); ASan and TSan are told about every switch, and under
// TSan only barriers order one fiber's accesses before another's.
//
// This file is compiled without -fsanitize=thread even in the TSan build: the scheduler's own
// bookkeeping is touched by every fiber of a block and must not look like a race between them.
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "emu/device.h"
#include "emu/runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#include "tsan_hooks.h"

#if !defined(__x86_64__)
#error "the emulator's context switch is written for x86-64"
#endif

// emu_switch(save, to): pushes the callee-saved registers, stores the stack pointer in *save,
// loads `to` and pops the other context's registers. A new fiber's stack is prepared so that
// the pops land in emu_fiber_start with the Fiber* in r12 and the entry function in r13.
extern "C" void emu_switch(void** save, void* to);
extern "C" void emu_fiber_start();
asm(R"(
    .text
    .p2align 4
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
    .p2align 4
    .type emu_fiber_start, @function
emu_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size emu_fiber_start, .-emu_fiber_start
)");

namespace emu {

__thread ThreadRegs* tl_regs = nullptr;

namespace {

#if defined(EMU_ASAN) || defined(EMU_TSAN)
constexpr size_t kStack = 1 << 20;
#else
constexpr size_t kStack = 256 << 10;
#endif
constexpr size_t kGuard = 4096;

struct Copy {
    void* dst;
    size_t bytes;
    unsigned char data[16];
};

// COND_WAIT: blocked until cond(cond_arg) holds (mbar_wait); the scheduler re-evaluates it.
// CLUSTER_WAIT: at cluster_sync, until every thread of the cluster arrived or exited.
enum State { READY, BLOCK_WAIT, WARP_WAIT, COND_WAIT, CLUSTER_WAIT, DONE };

// One wgmma of a warpgroup in flight. It is computed as late as the hardware allows: when the
// first thread of the warpgroup retires it (wgmma_wait), so a kernel that lets its operands be
// overwritten before then (a stage released early) computes with the new bytes. Each thread's
// accumulator d reads NaN from issue until that thread retires the op.
struct WgOp {
    Site site;
    uint64_t a, b;
    int n, ta, tb, scale;       // n: floats per thread (N / 2)
    bool computed = false;
    float* d[128];
    std::shared_ptr<WgOp> prev[128];   // the in-flight op whose result is thread l's accumulator input
    std::vector<float> c;              // [128][n]: thread l's registers at issue (no prev, scale-d 1)
    std::vector<float> out;            // [128][n] once computed
    std::vector<float> a_regs;         // [64][16]: A from registers (wgmma_bf16_rs), read at issue; empty: A from a
};
using WgOpRef = std::shared_ptr<WgOp>;

// A TMA store or reduce-add (cp.async.bulk.tensor ... bulk_group) whose read of its shared box the
// issuing thread has not yet waited for (cp.async.bulk.wait_group.read): the bytes as they were read
// at issue, to tell whether the box changed before the wait.
struct BulkRead {
    const unsigned char* box;
    std::vector<unsigned char> bytes;
    Site site;
    const char* what;
    bool committed;
};

struct Fiber {
    ThreadRegs regs{};
    void* sp = nullptr;
    char* stack = nullptr;   // lowest usable byte (a guard page below)
    State state = DONE;
    Site wait_site;
    const char* wait_what = "";
    uint64_t result = 0;
    unsigned block_epoch = 0, warp_epoch = 0;   // parity picks the TSan sync object of a barrier
    unsigned cluster_epoch = 0;                 // cluster_syncs this thread has completed
    int linear = 0;
    std::vector<Copy> batch;                    // cp.async issued since the last commit
    std::deque<std::vector<Copy>> groups;       // committed, not yet retired
    bool (*cond)(const void*) = nullptr;        // COND_WAIT's predicate and its argument
    const void* cond_arg = nullptr;
    unsigned wg_epoch = 0;
    std::vector<WgOpRef> wg_batch;              // wgmma issued since the last wgmma_commit
    std::deque<std::vector<WgOpRef>> wg_groups; // committed, not yet retired by wgmma_wait
    bool wg_fenced = false;                     // wgmma_fence since the kernel's start or the last wgmma_wait
    std::vector<BulkRead> bulk;                 // TMA stores / reduce-adds whose shared-memory reads are not waited for
    void* asan_fake = nullptr;
    void* tsan_fiber = nullptr;
};

enum Kind { K_SYNCWARP, K_SHFL, K_BALLOT, K_MMA16816, K_LDMATRIX };

// One warp-level rendezvous in progress: the lanes of `mask` meet at one call site.
struct Episode {
    unsigned mask = 0, arrived = 0;
    Kind kind = K_SYNCWARP;
    Site site;
    const char* what = "";
    int first = 0;                // the lane that opened it
    uint64_t v[32][4];            // per-lane operands
};

// A warpgroup rendezvous (wgmma): the 128 threads of warps 4g..4g+3 meet at one call site.
struct WgEpisode {
    unsigned arrived = 0;
    Site site;
    const char* what = "";
    int first = 0;
    uint64_t v[128][4];
    char sync[2];                 // TSan sync objects (addresses only)
    char computed;                // TSan: a wgmma computation (its heap results) before any later retirement
};

struct Warp {
    std::vector<Episode> open;
    unsigned exited = 0, present = 0;
    char sync[2];                 // TSan sync objects (addresses only)
};

struct Launch {
    const KernelEntry* kernel;
    dim3 grid, block;
    unsigned smem;
    struct alignas(64) Slot { unsigned char b[64]; };
    std::vector<Slot> argbuf;     // each argument at its type's alignment (a CUtensorMap: 64)
    std::vector<void*> argv;
    int schedule;
    unsigned cluster = 1;         // CTAs per cluster along x (__cluster_dims__; 1: none)
    std::atomic<unsigned long long> next{0};   // the next cluster to run
    std::atomic<bool> failed{false};
    std::mutex mu;
    unsigned long long err_block = ~0ull;
    std::string error;
};

// A named barrier (bar.sync / bar.arrive id, threads): the episode in progress.
struct NamedBar {
    unsigned threads = 0, arrived = 0, epoch = 0;   // epoch: completed episodes (waiters watch it)
    std::bitset<1024> in;                           // the threads that arrived in this episode
    Site site;                                      // the first arrival's call site and thread
    int first = 0;
    char sync[2];                                   // TSan sync objects (addresses only)
};

struct Cluster;

// One CTA's state. A worker thread runs a cluster's CTAs together (one Worker each, the first the
// thread's own); tl_worker is the running fiber's CTA.
struct Worker {
    Launch* L = nullptr;
    Cluster* cluster = nullptr;
    unsigned rank = 0;            // %cluster_ctarank
    NamedBar nbar[16];            // ids 1..15 (0 is __syncthreads)
    // The cluster_sync count of the thread that initialised each mbarrier (by shared offset): another
    // CTA may use it only after a later cluster_sync (mbar_init, fence, cluster_sync, then remote use).
    std::unordered_map<uint32_t, unsigned> mbar_gen;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    std::vector<WgEpisode> wgs;   // one per 128 threads
    std::vector<std::deque<WgOpRef>> wg_issued;   // per warpgroup: issued, not yet computed, in order
    std::vector<int> order;
    unsigned n = 0, done = 0;
    uint3 bid{};
    void* smem = nullptr;
    // The dynamic shared memory as the async proxy (TMA, wgmma) sees it: TMA loads write it with smem,
    // fence_proxy_async copies smem into it; an async-proxy read of bytes where it differs from smem
    // reads generic-proxy stores that no fence made visible.
    unsigned char* async_view = nullptr;
    // setmaxnreg: the per-thread registers each warpgroup holds and the CTA's pool (the register cap
    // at entry, from __launch_bounds__(threads, 1), times the threads).
    std::vector<unsigned> wg_regs;
    unsigned long long reg_pool = 0;
    const void* tls_data = nullptr;   // this thread's copy of the static __shared__ variables
    size_t tls_size = 0;
    // block barrier
    unsigned bar_count = 0;
    Site bar_site;
    int bar_first = 0;
    char bar_sync[2];
    char start_sync, end_sync;
    std::string error;
    Fiber* cur = nullptr;
    void* sched_sp = nullptr;
    const void* sched_lo = nullptr;
    size_t sched_size = 0;
    void* sched_fake = nullptr;
    void* sched_tsan = nullptr;
};

// The CTAs of one cluster, co-scheduled on one worker thread: each CTA's fibers, warps and shared
// memory are its own Worker's; cluster_sync is a rendezvous of all their threads.
constexpr unsigned kMaxCluster = 8;   // the portable cluster size
struct Cluster {
    unsigned size = 1;
    Worker* cta[kMaxCluster] = {};
    unsigned total = 0, exited = 0;   // threads of the cluster; those that exited
    unsigned arrived = 0;             // at the cluster_sync in progress
    unsigned generation = 0;          // completed cluster_syncs
    char sync[2];                     // TSan sync objects (addresses only), by generation parity
};

thread_local Worker* tl_worker = nullptr;

// Static __shared__ variables are thread_local, so they live in this module's TLS block (with
// tl_worker and tl_regs, nothing else). Filling that block with NaN bytes before each block makes
// a read of static shared memory nobody wrote this block read NaN, as dynamic shared memory does.
struct TlsBlock {
    void* data = nullptr;
    size_t size = 0;
};
TlsBlock this_threads_tls_block() {
    struct Q {
        const void* addr;
        TlsBlock found;
    } q{reinterpret_cast<const void*>(&emu_switch), {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* arg) -> int {
            Q* q = static_cast<Q*>(arg);
            bool mine = false;
            size_t tls = 0;
            for (int i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                uintptr_t lo = info->dlpi_addr + ph.p_vaddr, a = reinterpret_cast<uintptr_t>(q->addr);
                if (ph.p_type == PT_LOAD && a >= lo && a < lo + ph.p_memsz) mine = true;
                if (ph.p_type == PT_TLS) tls = ph.p_memsz;
            }
            if (!mine) return 0;
            q->found = {info->dlpi_tls_data, tls};
            return 1;
        },
        &q);
    return q.found;
}
void poison_static_shared(const TlsBlock& tls) {
    if (!tls.data) return;
    Worker* w = tl_worker;
    ThreadRegs* r = tl_regs;
    // The compiler must see that memset may write these two (it cannot tell tls.data points at them).
    asm volatile("" : : "r"(&tl_worker), "r"(&tl_regs) : "memory");
    std::memset(tls.data, 0xff, tls.size);
    asm volatile("" : : : "memory");
    tl_worker = w;
    tl_regs = r;
}

std::atomic<int> g_schedule{-1};
std::atomic<int> g_workers{0};

// Fiber stacks are kept for reuse by later launches (mmap per launch would dominate small ones).
std::mutex g_pool_mu;
std::vector<Worker*> g_pool;

Worker* take_worker() {
    std::lock_guard<std::mutex> g(g_pool_mu);
    if (g_pool.empty()) return new Worker();
    Worker* w = g_pool.back();
    g_pool.pop_back();
    return w;
}
void give_worker(Worker* w) {
    std::lock_guard<std::mutex> g(g_pool_mu);
    g_pool.push_back(w);
}

const char* base_name(const char* f) {
    const char* s = std::strrchr(f, '/');
    return s ? s + 1 : f;
}
std::string where(const Site& s) {
    return std::string(base_name(s.file_name())) + ":" + std::to_string(s.line()) + ":" + std::to_string(s.column());
}
bool same_site(const Site& a, const Site& b) {
    return a.line() == b.line() && a.column() == b.column() && std::strcmp(a.file_name(), b.file_name()) == 0;
}
std::string tid_str(const Fiber& f) {
    char b[64];
    std::snprintf(b, sizeof b, "(%u,%u,%u)", f.regs.tid.x, f.regs.tid.y, f.regs.tid.z);
    return b;
}

void switch_to_sched(Fiber* f, bool exiting) {
    Worker* w = tl_worker;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(exiting ? nullptr : &f->asan_fake, w->sched_lo, w->sched_size);
#else
    (void)exiting;
#endif
#ifdef EMU_TSAN
    __tsan_switch_to_fiber(w->sched_tsan, __tsan_switch_to_fiber_no_sync);
#endif
    emu_switch(&f->sp, w->sched_sp);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(f->asan_fake, &w->sched_lo, &w->sched_size);
#endif
}

// The running thread waits in `state` (a barrier of that kind; site and what name it in a deadlock
// error) until the scheduler resumes it.
void park(Fiber* f, State state, Site site, const char* what) {
    f->state = state;
    f->wait_site = site;
    f->wait_what = what;
    switch_to_sched(f, false);
}

void resume(Worker* w, Fiber* f) {
    w->cur = f;
    tl_regs = &f->regs;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&w->sched_fake, f->stack, kStack);
#endif
#ifdef EMU_TSAN
    __tsan_switch_to_fiber(f->tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
    emu_switch(&w->sched_sp, f->sp);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(w->sched_fake, nullptr, nullptr);
#endif
    w->cur = nullptr;
    tl_regs = nullptr;
}

// Records the block's error (the first one) and leaves the fiber for good.
[[noreturn]] void fail_fiber(const std::string& msg) {
    Worker* w = tl_worker;
    Fiber* f = w->cur;
    if (w->error.empty()) w->error = "thread " + tid_str(*f) + ": " + msg;
    f->state = DONE;
    TSAN_RELEASE(&w->end_sync);
    switch_to_sched(f, true);
    __builtin_trap();
}

// The cluster_sync in progress completes: every thread of the cluster arrived or exited.
void release_cluster(Cluster& C) {
    C.arrived = 0;
    C.generation++;
    for (unsigned r = 0; r < C.size; r++) {
        Worker* o = C.cta[r];
        for (unsigned i = 0; i < o->n; i++)
            if (o->fibers[i].state == CLUSTER_WAIT) o->fibers[i].state = READY;
    }
}

void fiber_main(Fiber* f) {
    Worker* w = tl_worker;
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &w->sched_lo, &w->sched_size);
#endif
    TSAN_ACQUIRE(&w->start_sync);
    w->L->kernel->invoke(w->L->argv.data());
    // The thread exits: barriers it was named in can no longer complete.
    Warp& W = w->warps[f->regs.warp];
    unsigned bit = 1u << f->regs.lane;
    for (const Episode& e : W.open)
        if (e.mask & bit)
            fail_fiber(std::string("exited while lane ") + std::to_string(e.first) + " of its warp waits at " + e.what +
                       " (" + where(e.site) + ") with mask " + std::to_string(e.mask));
    if (w->bar_count > 0)
        fail_fiber("exited while thread " + tid_str(w->fibers[w->bar_first]) + " waits at __syncthreads (" +
                   where(w->bar_site) + ")");
    if (const WgEpisode& G = w->wgs[f->linear / 128]; G.arrived > 0)
        fail_fiber("exited while thread " + tid_str(w->fibers[G.first]) + " of its warpgroup waits at " + G.what + " (" +
                   where(G.site) + ")");
    if (!f->bulk.empty())
        fail_fiber("exited with " + std::to_string(f->bulk.size()) + " " + f->bulk[0].what + "(s) still reading shared memory (the first at " +
                   where(f->bulk[0].site) + "): tma_store_commit() and tma_store_wait() before the thread exits, or the copy engine may "
                   "read the box after the block's shared memory was given to another block");
    W.exited |= bit;
    f->batch.clear();
    f->groups.clear();
    f->state = DONE;
    w->done++;
    // PTX exit: a barrier.cluster held up only by exiting threads completes.
    Cluster& C = *w->cluster;
    C.exited++;
    TSAN_RELEASE(&C.sync[C.generation & 1]);
    if (C.arrived > 0 && C.arrived == C.total - C.exited) release_cluster(C);
    TSAN_RELEASE(&w->end_sync);
    switch_to_sched(f, true);
    __builtin_trap();
}

void init_fiber(Fiber* f) {
    if (!f->stack) {
        void* m = mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            std::perror("emu: mmap of a fiber stack");
            std::abort();
        }
        mprotect(m, kGuard, PROT_NONE);
        f->stack = static_cast<char*>(m) + kGuard;
    }
    // Initial frame: six callee-saved registers (r12 = fiber, r13 = entry) then emu_fiber_start as
    // the return address, placed so that the call in emu_fiber_start sees a 16-byte aligned stack.
    uintptr_t top = reinterpret_cast<uintptr_t>(f->stack + kStack) & ~uintptr_t(15);
    uint64_t* sp = reinterpret_cast<uint64_t*>(top - 72);
    sp[0] = 0;                                                   // r15
    sp[1] = 0;                                                   // r14
    sp[2] = reinterpret_cast<uint64_t>(&fiber_main);             // r13
    sp[3] = reinterpret_cast<uint64_t>(f);                       // r12
    sp[4] = 0;                                                   // rbx
    sp[5] = 0;                                                   // rbp (ends frame-pointer walks)
    sp[6] = reinterpret_cast<uint64_t>(&emu_fiber_start);        // return address
    f->sp = sp;
}

bool runnable(const Fiber& f) { return f.state == READY || (f.state == COND_WAIT && f.cond(f.cond_arg)); }

void make_order(Worker* w, int schedule) {
    w->order.resize(w->n);
    for (unsigned i = 0; i < w->n; i++) w->order[i] = (int)i;
    // 1: reversed. 2: warp 0 runs first as far as it can (see run_cluster), the rest reversed.
    if (schedule == 1 || schedule == 2) std::reverse(w->order.begin(), w->order.end());
}

std::string block_str(const Worker* w) {
    char b[64];
    std::snprintf(b, sizeof b, "block (%u,%u,%u)", w->bid.x, w->bid.y, w->bid.z);
    return b;
}

// Nobody in the cluster can run: name a waiting thread and one waiting elsewhere (in a cluster, with
// their blocks).
std::string deadlock_message(const Cluster& C) {
    const Fiber* a = nullptr;
    const Fiber* b = nullptr;
    const Worker *wa = nullptr, *wb = nullptr;
    for (unsigned r = 0; r < C.size && !b; r++) {
        const Worker* w = C.cta[r];
        for (unsigned i = 0; i < w->n; i++) {
            const Fiber& f = w->fibers[i];
            if (f.state == DONE) continue;
            if (!a) { a = &f; wa = w; }
            else if (!same_site(f.wait_site, a->wait_site) || std::strcmp(f.wait_what, a->wait_what) != 0) { b = &f; wb = w; break; }
        }
    }
    auto who = [&](const Fiber* f, const Worker* w) {
        return "thread " + tid_str(*f) + (C.size > 1 ? " of " + block_str(w) : std::string()) + " waits at " + f->wait_what +
               " (" + where(f->wait_site) + ")";
    };
    std::string m = "deadlock: " + who(a, wa);
    if (b) m += " while " + who(b, wb);
    else m += "; no thread can reach it";
    // A warpgroup waiting for registers is the likely root of the others' waits: name it too.
    for (unsigned r = 0; r < C.size; r++)
        for (const Fiber& f : C.cta[r]->fibers)
            if (f.state == COND_WAIT && &f != a && &f != b && std::strncmp(f.wait_what, "setmaxnreg", 10) == 0)
                return m + "; and " + who(&f, C.cta[r]);
    return m;
}

std::string named_bars_left_open(const Worker* w);

// Block `linear`'s fibers, barriers and shared memory, ready to run.
// The per-thread register cap ptxas compiles a kernel with under __launch_bounds__(threads, 1): the
// 65,536-register file over the block's threads (whole warps), rounded down to a multiple of 8, at
// most 255 (168 at 384 threads, as ptxas -v reports for the Hopper kernels); 0 without launch bounds,
// where ptxas ignores setmaxnreg (C7508).
unsigned entry_registers(unsigned max_threads) {
    if (max_threads == 0) return 0;
    return std::min(255u, 65536u / ((max_threads + 31) / 32 * 32) / 8 * 8);
}

// Copies and comparisons of shared memory for the async-proxy view, done word by word in this
// file's uninstrumented code (under TSan, a memcpy would be seen reading other threads' unordered
// stores: the fence's copy takes the whole window, not only what its thread wrote). Not turned into
// memcpy / memcmp calls, which TSan intercepts.
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void quiet_copy(unsigned char* dst, const unsigned char* src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        __builtin_memcpy(&v, src + i, 8);
        __builtin_memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) dst[i] = src[i];
}
// The first index where a and b differ, or n.
__attribute__((optimize("no-tree-loop-distribute-patterns"))) size_t quiet_mismatch(const unsigned char* a, const unsigned char* b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return n;
}

void setup_block(Worker* w, unsigned long long linear) {
    Launch* L = w->L;
    const dim3 g = L->grid, bd = L->block;
    w->bid = uint3{unsigned(linear % g.x), unsigned((linear / g.x) % g.y), unsigned(linear / ((unsigned long long)g.x * g.y))};
    w->n = bd.x * bd.y * bd.z;
    w->done = 0;
    w->bar_count = 0;
    w->error.clear();
    w->mbar_gen.clear();
    if (w->fibers.size() < w->n) w->fibers.resize(w->n);
    unsigned nw = (w->n + 31) / 32;
    w->warps.assign(nw, Warp{});
    w->wgs.assign((w->n + 127) / 128, WgEpisode{});
    w->wg_issued.assign((w->n + 127) / 128, {});
    for (NamedBar& b : w->nbar) {
        b.threads = b.arrived = 0;
        b.in.reset();
    }
    for (unsigned i = 0; i < nw; i++)
        w->warps[i].present = (i + 1) * 32 <= w->n ? 0xffffffffu : ((1u << (w->n - i * 32)) - 1);
    if (L->smem) {
        // Exact size (ASan sees an overrun past the launch's bytes), NaN bytes until written; 1024-byte
        // aligned, as the shared window (shared_offset) puts it at offset 0 and the swizzle modes
        // of TMA and wgmma read address bits 4-9.
        if (posix_memalign(&w->smem, 1024, L->smem) != 0) {
            std::perror("emu: dynamic shared memory");
            std::abort();
        }
        std::memset(w->smem, 0xff, L->smem);
        w->async_view = static_cast<unsigned char*>(std::malloc(L->smem));
        std::memset(w->async_view, 0xff, L->smem);
    }
    {
        const unsigned cap = entry_registers(L->kernel->max_threads);
        w->wg_regs.assign((w->n + 127) / 128, cap);
        w->reg_pool = (unsigned long long)cap * ((w->n + 31) / 32 * 32);
    }
    for (unsigned i = 0; i < w->n; i++) {
        Fiber& f = w->fibers[i];
        f.regs.tid = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
        f.regs.bid = w->bid;
        f.regs.bdim = bd;
        f.regs.gdim = g;
        f.regs.lane = i & 31;
        f.regs.warp = i >> 5;
        f.regs.dyn_smem = w->smem;
        f.state = READY;
        f.linear = (int)i;
        f.block_epoch = f.warp_epoch = f.cluster_epoch = 0;
        f.batch.clear();
        f.groups.clear();
        f.asan_fake = nullptr;
        f.wg_epoch = 0;
        f.wg_batch.clear();
        f.wg_groups.clear();
        f.wg_fenced = false;
        f.bulk.clear();
        init_fiber(&f);
#ifdef EMU_TSAN
        // Kept for later blocks: they are ordered after this one anyway (end_sync, start_sync).
        if (!f.tsan_fiber) f.tsan_fiber = __tsan_create_fiber(0);
#endif
    }
    make_order(w, L->schedule);
}

// After the cluster ran (or stopped at an error): the block's error goes to the launch, abandoned
// fibers are cleaned up, shared memory freed.
void finish_block(Worker* w, unsigned long long linear) {
    Launch* L = w->L;
    TSAN_ACQUIRE(&w->end_sync);
    const bool abandoned = w->done < w->n;
    if (abandoned) {
        // Abandoned fibers last released at the barrier they wait at.
        TSAN_ACQUIRE(&w->bar_sync[0]);
        TSAN_ACQUIRE(&w->bar_sync[1]);
        TSAN_ACQUIRE(&w->cluster->sync[0]);
        TSAN_ACQUIRE(&w->cluster->sync[1]);
        for ([[maybe_unused]] Warp& W : w->warps) {
            TSAN_ACQUIRE(&W.sync[0]);
            TSAN_ACQUIRE(&W.sync[1]);
        }
        for ([[maybe_unused]] WgEpisode& G : w->wgs) {
            TSAN_ACQUIRE(&G.sync[0]);
            TSAN_ACQUIRE(&G.sync[1]);
            TSAN_ACQUIRE(&G.computed);
        }
        for ([[maybe_unused]] NamedBar& b : w->nbar) {
            TSAN_ACQUIRE(&b.sync[0]);
            TSAN_ACQUIRE(&b.sync[1]);
        }
    }
    for (unsigned i = 0; i < w->n; i++) {
        Fiber& f = w->fibers[i];
#ifdef EMU_ASAN
        // A fiber abandoned mid-kernel leaves its frames' redzones poisoned; its stack is reused.
        if (abandoned) ASAN_UNPOISON_MEMORY_REGION(f.stack, kStack);
#endif
        f.batch.clear();
        f.groups.clear();
        f.wg_batch.clear();
        f.wg_groups.clear();
        f.bulk.clear();
    }
    w->wg_issued.clear();
    std::free(w->smem);
    w->smem = nullptr;
    std::free(w->async_view);
    w->async_view = nullptr;
    if (!w->error.empty()) {
        const std::string b = std::string(L->kernel->name) + " " + block_str(w) + " ";
        std::lock_guard<std::mutex> lk(L->mu);
        if (linear < L->err_block) {
            L->err_block = linear;
            L->error = b + w->error;
        }
        L->failed = true;
    }
}

// Whether the static __shared__ bytes (the TLS block but tl_worker and tl_regs) were written since
// poison_static_shared.
bool static_shared_written(const TlsBlock& tls) {
    const unsigned char* p = static_cast<const unsigned char*>(tls.data);
    const unsigned char* tw = reinterpret_cast<const unsigned char*>(&tl_worker);
    const unsigned char* tr = reinterpret_cast<const unsigned char*>(&tl_regs);
    for (size_t i = 0; i < tls.size; i++) {
        const unsigned char* c = p + i;
        if ((c >= tw && c < tw + sizeof tl_worker) || (c >= tr && c < tr + sizeof tl_regs)) continue;
        if (*c != 0xff) return true;
    }
    return false;
}

// Runs cluster `index` (one block when the kernel has no clusters): its CTAs' fibers take turns on
// this thread until all exit or one fails. Schedules 1 and 2 run the CTAs (and their threads) in
// reverse; schedule 2 lets each CTA run as far as it can before the next one takes a step.
void run_cluster(Cluster& C, unsigned long long index, const TlsBlock& tls) {
    Launch* L = C.cta[0]->L;
    const unsigned long long per_row = L->grid.x / C.size, row = index / per_row;
    unsigned long long linear[kMaxCluster];
    C.total = C.exited = C.arrived = C.generation = 0;
    for (unsigned r = 0; r < C.size; r++) {
        linear[r] = row * L->grid.x + (index % per_row) * C.size + r;
        setup_block(C.cta[r], linear[r]);
        C.total += C.cta[r]->n;
    }
    poison_static_shared(tls);
    for (unsigned r = 0; r < C.size; r++) TSAN_RELEASE(&C.cta[r]->start_sync);
    auto failed = [&] {
        for (unsigned r = 0; r < C.size; r++)
            if (!C.cta[r]->error.empty()) return true;
        return false;
    };
    auto finished = [&] {
        for (unsigned r = 0; r < C.size; r++)
            if (C.cta[r]->done < C.cta[r]->n) return false;
        return true;
    };
    while (!failed() && !finished()) {
        bool ran = false;
        for (unsigned q = 0; q < C.size && !failed(); q++) {
            Worker* w = C.cta[L->schedule == 0 ? q : C.size - 1 - q];
            tl_worker = w;
            // Schedule 2 in a cluster: this CTA runs as far as it can before the next one takes a step
            // (one CTA far ahead of its peers, as a stage released to one CTA only would allow).
            for (bool cta_again = true; cta_again && w->error.empty();) {
                cta_again = false;
                for (unsigned k = 0; k < w->n && w->error.empty(); k++) {
                    if (L->schedule == 2) {
                        // Warp 0 first, as far as it gets, before anyone else takes a step.
                        for (bool again = true; again && w->error.empty();) {
                            again = false;
                            for (unsigned l = 0; l < std::min(32u, w->n) && w->error.empty(); l++)
                                if (runnable(w->fibers[l])) { resume(w, &w->fibers[l]); again = ran = true; }
                        }
                    }
                    Fiber* f = &w->fibers[w->order[k]];
                    if (runnable(*f) && w->error.empty()) {
                        resume(w, f);
                        ran = true;
                        cta_again = L->schedule == 2 && C.size > 1;
                    }
                }
            }
        }
        if (!ran && !failed() && !finished()) {
            Worker* w = C.cta[0];
            while (w->done == w->n) w = C.cta[w->rank + 1];
            w->error = deadlock_message(C);
        }
    }
    for (unsigned r = 0; r < C.size && !failed(); r++) C.cta[r]->error = named_bars_left_open(C.cta[r]);
    tl_worker = C.cta[0];
    if (C.size > 1 && !failed() && static_shared_written(tls))
        C.cta[0]->error = "a kernel with clusters of " + std::to_string(C.size) + " CTAs wrote static __shared__ memory, which "
                          "the emulator keeps per worker thread, not per CTA: use dynamic shared memory (DYNAMIC_SHARED)";
    for (unsigned r = 0; r < C.size; r++) finish_block(C.cta[r], linear[r]);
}

void worker_loop(Launch* L) {
    Cluster C;
    C.size = L->cluster;
    C.cta[0] = take_worker();
    for (unsigned r = 1; r < C.size; r++) C.cta[r] = take_worker();
    tl_worker = C.cta[0];   // also makes sure this thread's TLS block exists
    const TlsBlock tls = this_threads_tls_block();
    for (unsigned r = 0; r < C.size; r++) {
        Worker* w = C.cta[r];
        w->L = L;
        w->cluster = &C;
        w->rank = r;
        w->tls_data = tls.data;
        w->tls_size = tls.size;
#ifdef EMU_TSAN
        w->sched_tsan = __tsan_get_current_fiber();
#endif
    }
    const unsigned long long clusters = (unsigned long long)L->grid.x * L->grid.y * L->grid.z / C.size;
    for (;;) {
        if (L->failed) break;
        unsigned long long c = L->next.fetch_add(1);
        if (c >= clusters) break;
        run_cluster(C, c, tls);
    }
    tl_worker = nullptr;
    for (unsigned r = 0; r < C.size; r++) {
        C.cta[r]->L = nullptr;
        C.cta[r]->cluster = nullptr;
        give_worker(C.cta[r]);
    }
}

// ---- warp rendezvous

Worker* current(Fiber** f) {
    Worker* w = tl_worker;
    if (!w || !w->cur) {
        std::fprintf(stderr, "emu: a device function was called outside a kernel launch\n");
        std::abort();
    }
    *f = w->cur;
    return w;
}

std::string hex(unsigned m) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", m);
    return b;
}

void complete(Worker* w, Warp& W, Episode& e);

// Lane of `f` arrives at a warp-level op; returns once every lane of the mask has arrived and
// the op is complete. Checks the mask, divergence and exited lanes first.
void warp_arrive(Kind kind, const char* what, unsigned mask, const Site& site, const uint64_t v[4]) {
    Fiber* f;
    Worker* w = current(&f);
    Warp& W = w->warps[f->regs.warp];
    const unsigned lane = f->regs.lane, bit = 1u << lane;
    const std::string at = std::string(what) + " (" + where(site) + ")";
    if (!(mask & bit)) fail_fiber(at + ": mask " + hex(mask) + " excludes the calling lane " + std::to_string(lane));
    if (mask & ~W.present)
        fail_fiber(at + ": mask " + hex(mask) + " names lanes that do not exist (block of " + std::to_string(w->n) +
                   " threads)");
    if (mask & W.exited)
        fail_fiber(at + ": mask " + hex(mask) + " names lane " + std::to_string(__builtin_ctz(mask & W.exited)) +
                   ", which has exited");
    Episode* e = nullptr;
    for (Episode& o : W.open)
        if (o.mask & mask) { e = &o; break; }
    if (e) {
        if (e->mask != mask || e->kind != kind || !same_site(e->site, site) || std::strcmp(e->what, what) != 0)
            fail_fiber("divergent warp op: lane " + std::to_string(lane) + " at " + at + " with mask " + hex(mask) +
                       ", lane " + std::to_string(e->first) + " waits at " + e->what + " (" + where(e->site) +
                       ") with mask " + hex(e->mask));
    } else {
        W.open.emplace_back();
        e = &W.open.back();
        e->mask = mask;
        e->kind = kind;
        e->site = site;
        e->what = what;
        e->first = (int)lane;
    }
    std::memcpy(e->v[lane], v, sizeof e->v[lane]);
    e->arrived |= bit;
    TSAN_RELEASE(&W.sync[f->warp_epoch & 1]);
    if (e->arrived == e->mask) {
        Episode done = *e;
        W.open.erase(W.open.begin() + (e - W.open.data()));
        complete(w, W, done);
        for (unsigned l = 0; l < 32; l++)
            if ((done.mask >> l) & 1) w->fibers[f->regs.warp * 32 + l].state = READY;
    } else {
        park(f, WARP_WAIT, site, what);
    }
    TSAN_ACQUIRE(&W.sync[f->warp_epoch & 1]);
    f->warp_epoch++;
}

// Whether [p, p + n) lies in the running block's shared memory (dynamic, or the static __shared__
// variables in this worker's TLS block).
bool in_shared(const Worker* w, const void* p, size_t n) {
    auto inside = [&](const void* lo, size_t size) {
        const char* c = static_cast<const char*>(p);
        const char* l = static_cast<const char*>(lo);
        return lo && c >= l && c + n <= l + size;
    };
    return inside(w->smem, w->L->smem) || inside(w->tls_data, w->tls_size);
}

void complete(Worker* w, Warp& W, Episode& e) {
    Fiber* lanes = &w->fibers[(&W - w->warps.data()) * 32];
    switch (e.kind) {
    case K_SYNCWARP:
        break;
    case K_SHFL:
        for (int l = 0; l < 32; l++) {
            if (!((e.mask >> l) & 1)) continue;
            const int mode = (int)e.v[l][1], arg = (int)e.v[l][2], width = (int)e.v[l][3];
            if (width < 1 || width > 32 || (width & (width - 1)))
                fail_fiber(std::string(e.what) + " (" + where(e.site) + "): width " + std::to_string(width) +
                           " is not a power of two up to 32");
            const int base = l & ~(width - 1);
            int src = l;
            switch (mode) {
            case SHFL_IDX: src = base + (arg & (width - 1)); break;
            case SHFL_UP: src = l - arg >= base ? l - arg : l; break;
            case SHFL_DOWN: src = l + arg < base + width ? l + arg : l; break;
            case SHFL_XOR: src = (l ^ arg) < base + width ? (l ^ arg) : l; break;
            }
            if (!((e.mask >> src) & 1))
                fail_fiber(std::string(e.what) + " (" + where(e.site) + "): lane " + std::to_string(l) + " reads lane " +
                           std::to_string(src) + ", outside the mask " + hex(e.mask));
            lanes[l].result = e.v[src][0];
        }
        break;
    case K_BALLOT: {
        unsigned bits = 0;
        for (int l = 0; l < 32; l++)
            if (((e.mask >> l) & 1) && e.v[l][0]) bits |= 1u << l;
        for (int l = 0; l < 32; l++)
            if ((e.mask >> l) & 1) lanes[l].result = bits;
        break;
    }
    case K_MMA16816: {
        // mma.sync m16n8k16 row.col bf16 -> fp32: gather A (16 x 16), B (16 x 8), C from the lanes by
        // the PTX fragment tables, D = A B + C (exact products summed in double), scatter D.
        float A[16][16], B[16][8], C[16][8];
        auto bf = [](unsigned reg, int half) {
            uint32_t u = (half ? reg >> 16 : reg & 0xffffu) << 16;
            float f;
            std::memcpy(&f, &u, 4);
            return f;
        };
        for (int l = 0; l < 32; l++) {
            const unsigned* a = reinterpret_cast<const unsigned*>(e.v[l][1]);
            const unsigned* b = reinterpret_cast<const unsigned*>(e.v[l][2]);
            const float* c = reinterpret_cast<const float*>(e.v[l][3]);
            for (int i = 0; i < 8; i++) A[mma_a_row(l, i)][mma_a_col(l, i)] = bf(a[i >> 1], i & 1);
            for (int i = 0; i < 4; i++) {
                B[mma_b_row(l, i)][mma_b_col(l, i)] = bf(b[i >> 1], i & 1);
                C[mma_c_row(l, i)][mma_c_col(l, i)] = c[i];
            }
        }
        for (int l = 0; l < 32; l++) {
            float* d = reinterpret_cast<float*>(e.v[l][0]);
            for (int i = 0; i < 4; i++) {
                int r = mma_c_row(l, i), c = mma_c_col(l, i);
                double s = C[r][c];
                for (int k = 0; k < 16; k++) s += (double)A[r][k] * B[k][c];
                d[i] = (float)s;
            }
        }
        break;
    }
    case K_LDMATRIX: {
        // Lane 8j + i addresses row i of matrix j; every lane then takes its two elements of each
        // matrix (of its transpose with .trans) from those rows.
        const int num = (int)e.v[0][1];
        const bool trans = e.v[0][2] != 0;
        for (int l = 0; l < 8 * num; l++) {
            const void* row = reinterpret_cast<const void*>(e.v[l][0]);
            if (reinterpret_cast<uintptr_t>(row) & 15)
                fail_fiber(std::string(e.what) + " (" + where(e.site) + "): lane " + std::to_string(l) + "'s row address " +
                           std::to_string(reinterpret_cast<uintptr_t>(row)) + " is not 16-byte aligned");
            if (!in_shared(w, row, 16))
                fail_fiber(std::string(e.what) + " (" + where(e.site) + "): lane " + std::to_string(l) +
                           "'s row address is not in this block's shared memory");
        }
        uint32_t out[32][4];
        for (int l = 0; l < 32; l++) {
            const int r = l >> 2, c = 2 * (l & 3);
            for (int j = 0; j < num; j++) {
                auto at = [&](int row, int col) { return reinterpret_cast<const uint16_t*>(e.v[8 * j + row][0])[col]; };
                uint32_t lo = trans ? at(c, r) : at(r, c), hi = trans ? at(c + 1, r) : at(r, c + 1);
                out[l][j] = lo | (hi << 16);
            }
        }
        // Plain stores, not memcpy: TSan intercepts memcpy even in this uninstrumented file and would
        // see this fiber write the other lanes' registers (their stacks) before the barrier's acquire.
        for (int l = 0; l < 32; l++) {
            unsigned* regs = reinterpret_cast<unsigned*>(e.v[l][3]);
            for (int j = 0; j < num; j++) regs[j] = out[l][j];
        }
        break;
    }
    }
}

}  // namespace

// ---- the device functions the headers call

void syncthreads(Site site) {
    Fiber* f;
    Worker* w = current(&f);
    if (w->done > 0) {
        for (const Fiber& o : w->fibers)
            if (o.state == DONE && (&o - w->fibers.data()) < (long)w->n)
                fail_fiber("__syncthreads (" + where(site) + ") after thread " + tid_str(o) + " exited");
    }
    if (w->bar_count > 0 && !same_site(w->bar_site, site))
        fail_fiber("divergent __syncthreads: this thread at " + where(site) + ", thread " +
                   tid_str(w->fibers[w->bar_first]) + " waits at " + where(w->bar_site));
    if (w->bar_count == 0) {
        w->bar_site = site;
        w->bar_first = f->linear;
    }
    TSAN_RELEASE(&w->bar_sync[f->block_epoch & 1]);
    if (++w->bar_count == w->n) {
        w->bar_count = 0;
        for (unsigned i = 0; i < w->n; i++)
            if (w->fibers[i].state == BLOCK_WAIT) w->fibers[i].state = READY;
    } else {
        park(f, BLOCK_WAIT, site, "__syncthreads");
    }
    TSAN_ACQUIRE(&w->bar_sync[f->block_epoch & 1]);
    f->block_epoch++;
}

void syncwarp(unsigned mask, Site site) {
    const uint64_t v[4] = {0, 0, 0, 0};
    warp_arrive(K_SYNCWARP, "__syncwarp", mask, site, v);
}

uint64_t shfl(unsigned mask, uint64_t bits, int mode, int arg, int width, Site site) {
    static const char* const names[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync"};
    const uint64_t v[4] = {bits, (uint64_t)mode, (uint64_t)(uint32_t)arg, (uint64_t)width};
    warp_arrive(K_SHFL, names[mode & 3], mask, site, v);
    return tl_worker->cur->result;
}

unsigned ballot(unsigned mask, int pred, Site site) {
    const uint64_t v[4] = {(uint64_t)(pred != 0), 0, 0, 0};
    warp_arrive(K_BALLOT, "__ballot_sync", mask, site, v);
    return (unsigned)tl_worker->cur->result;
}

void mma_m16n8k16_bf16(float* d, const unsigned* a, const unsigned* b, const float* c, Site site) {
    const uint64_t v[4] = {reinterpret_cast<uint64_t>(d), reinterpret_cast<uint64_t>(a), reinterpret_cast<uint64_t>(b),
                           reinterpret_cast<uint64_t>(c)};
    warp_arrive(K_MMA16816, "mma.sync.m16n8k16", 0xffffffffu, site, v);
}

void ldmatrix(unsigned* regs, const void* row, int num, bool trans, Site site) {
    static const char* const names[2][3] = {{"ldmatrix.x1", "ldmatrix.x2", "ldmatrix.x4"},
                                            {"ldmatrix.x1.trans", "ldmatrix.x2.trans", "ldmatrix.x4.trans"}};
    const uint64_t v[4] = {reinterpret_cast<uint64_t>(row), (uint64_t)num, (uint64_t)trans, reinterpret_cast<uint64_t>(regs)};
    warp_arrive(K_LDMATRIX, names[trans][num == 1 ? 0 : num == 2 ? 1 : 2], 0xffffffffu, site, v);
}

void cp_async(void* dst, const void* src, size_t bytes, size_t zfill) {
    Fiber* f;
    current(&f);
    if (bytes != 4 && bytes != 8 && bytes != 16)
        fail_fiber("__pipeline_memcpy_async of " + std::to_string(bytes) + " bytes (4, 8 or 16 allowed)");
    if ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) & (bytes - 1))
        fail_fiber("__pipeline_memcpy_async of " + std::to_string(bytes) + " bytes between addresses not aligned to it");
    if (zfill > bytes) fail_fiber("__pipeline_memcpy_async: zero-fill exceeds the copy");
    Copy c;
    c.dst = dst;
    c.bytes = bytes;
    std::memcpy(c.data, src, bytes - zfill);
    std::memset(c.data + (bytes - zfill), 0, zfill);
    std::memset(dst, 0xff, bytes);
    f->batch.push_back(c);
}

void cp_commit() {
    Fiber* f;
    current(&f);
    f->groups.push_back(std::move(f->batch));
    f->batch.clear();
}

void cp_wait_prior(size_t prior) {
    Fiber* f;
    current(&f);
    while (f->groups.size() > prior) {
        for (const Copy& c : f->groups.front()) std::memcpy(c.dst, c.data, c.bytes);
        f->groups.pop_front();
    }
}

// ---- Hopper: shared window, condition waits, warpgroup rendezvous, wgmma accumulators

namespace {
// Where the static __shared__ variables start in the window (see shared_offset in device.h).
constexpr const char* kStaticInCluster =
    "the emulator keeps static __shared__ per worker thread, shared by a cluster's CTAs: use dynamic shared memory";
uint32_t static_base(const Worker* w) {
    return (w->L->smem + 1023u) / 1024u * 1024u + (uint32_t)(reinterpret_cast<uintptr_t>(w->tls_data) & 1023u);
}
}  // namespace

uint32_t shared_offset(const void* p, size_t bytes, const char* what) {
    Fiber* f;
    Worker* w = current(&f);
    const char* c = static_cast<const char*>(p);
    if (w->smem && c >= static_cast<const char*>(w->smem) && c + bytes <= static_cast<const char*>(w->smem) + w->L->smem)
        return (uint32_t)(c - static_cast<const char*>(w->smem));
    const char* t = static_cast<const char*>(w->tls_data);
    if (t && c >= t && c + bytes <= t + w->tls_size) {
        if (w->cluster->size > 1) fail_fiber(std::string(what) + ": static __shared__ memory in a kernel with clusters (" + kStaticInCluster + ")");
        return static_base(w) + (uint32_t)(c - t);
    }
    fail_fiber(std::string(what) + ": " + std::to_string(bytes) + " bytes at " + std::to_string(reinterpret_cast<uintptr_t>(p)) +
               " are not in this block's shared memory");
}

void* shared_at(uint32_t offset, size_t bytes, const char* what) {
    Fiber* f;
    Worker* w = current(&f);
    if (w->smem && (size_t)offset + bytes <= w->L->smem) return static_cast<char*>(w->smem) + offset;
    const uint32_t sb = static_base(w);
    if (w->tls_data && offset >= sb && (size_t)(offset - sb) + bytes <= w->tls_size && w->cluster->size == 1)
        return static_cast<char*>(const_cast<void*>(w->tls_data)) + (offset - sb);
    fail_fiber(std::string(what) + ": shared-window bytes [" + std::to_string(offset) + ", " +
               std::to_string(offset + bytes) + ") are outside this block's shared memory (" + std::to_string(w->L->smem) +
               " dynamic bytes at 0, static __shared__ at " + std::to_string(sb) + ")");
}

// ---- clusters

unsigned cluster_rank() {
    Fiber* f;
    return current(&f)->rank;
}

unsigned cluster_size() {
    Fiber* f;
    return current(&f)->cluster->size;
}

void cluster_sync(Site site) {
    Fiber* f;
    Worker* w = current(&f);
    Cluster& C = *w->cluster;
    [[maybe_unused]] const unsigned gen = C.generation;
    TSAN_RELEASE(&C.sync[gen & 1]);
    if (++C.arrived == C.total - C.exited) {
        release_cluster(C);
    } else {
        park(f, CLUSTER_WAIT, site, "cluster_sync");
    }
    TSAN_ACQUIRE(&C.sync[gen & 1]);
    f->cluster_epoch++;
}

void* cluster_shared_at(unsigned cta, uint32_t offset, size_t bytes, const char* what, bool mbarrier) {
    Fiber* f;
    Worker* w = current(&f);
    const Cluster& C = *w->cluster;
    if (cta >= C.size)
        fail_fiber(std::string(what) + ": CTA " + std::to_string(cta) + " is outside this cluster of " + std::to_string(C.size) +
                   " CTA(s) (ranks 0.." + std::to_string(C.size - 1) + ")");
    Worker* o = C.cta[cta];
    if (o == w) return shared_at(offset, bytes, what);
    if (o->done == o->n)
        fail_fiber(std::string(what) + ": CTA " + std::to_string(cta) + " of the cluster (" + block_str(o) +
                   ") has exited and its shared memory is gone (end the kernel with cluster_sync while peers may still use it)");
    if (!o->smem || (size_t)offset + bytes > w->L->smem)
        fail_fiber(std::string(what) + ": shared-window bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                   ") are outside CTA " + std::to_string(cta) + "'s dynamic shared memory (" + std::to_string(w->L->smem) + " bytes; " +
                   kStaticInCluster + ")");
    if (mbarrier) {
        auto it = o->mbar_gen.find(offset);
        if (it == o->mbar_gen.end() || it->second >= f->cluster_epoch)
            fail_fiber(std::string(what) + ": the mbarrier at shared offset " + std::to_string(offset) + " of CTA " +
                       std::to_string(cta) + (it == o->mbar_gen.end() ? " was not initialised" : " was initialised after this thread's last cluster_sync") +
                       ": another CTA may use an mbarrier only after mbar_init, mbar_fence_init and a cluster_sync");
    }
    return static_cast<char*>(o->smem) + offset;
}

void mbar_note_init(uint32_t offset) {
    Fiber* f;
    Worker* w = current(&f);
    w->mbar_gen[offset] = f->cluster_epoch;
}

void wait_until(bool (*ready)(const void*), const void* arg, const char* what, Site site) {
    Fiber* f;
    [[maybe_unused]] Worker* w = current(&f);
    if (ready(arg)) return;
    f->cond = ready;
    f->cond_arg = arg;
    f->state = COND_WAIT;
    f->wait_site = site;
    f->wait_what = what;
    // If the launch fails while this thread waits, the scheduler (finish_block) orders what it did
    // before the wait ahead of the next block's reuse of the worker (its TLS: static shared memory).
    TSAN_RELEASE(&w->end_sync);
    switch_to_sched(f, false);   // the scheduler resumes this thread only once ready(arg) holds
    f->state = READY;
    f->cond = nullptr;
}

namespace {

// The 128 threads of this thread's warpgroup (warps 4g .. 4g+3) meet at `site`; the last to arrive
// runs done(...) with every thread's v, then all continue. Refused: a warpgroup the block does not
// have whole, a thread of it that exited, two call sites meeting.
void wg_arrive(const char* what, const Site& site, const uint64_t v[4], void (*done)(Worker*, unsigned, const WgEpisode&)) {
    Fiber* f;
    Worker* w = current(&f);
    const unsigned g = (unsigned)f->linear / 128, l = (unsigned)f->linear % 128;
    const std::string at = std::string(what) + " (" + where(site) + ")";
    if ((g + 1) * 128 > w->n)
        fail_fiber(at + ": warpgroup " + std::to_string(g) + " (warps " + std::to_string(4 * g) + ".." +
                   std::to_string(4 * g + 3) + ") is incomplete in a block of " + std::to_string(w->n) +
                   " threads; a warpgroup is 4 whole warps starting at a warp index divisible by 4");
    for (unsigned i = 128 * g; i < 128 * g + 128; i++)
        if (w->fibers[i].state == DONE)
            fail_fiber(at + ": thread " + tid_str(w->fibers[i]) + " of the warpgroup has exited (" + what + " is .sync.aligned: all 128 threads execute it)");
    WgEpisode& G = w->wgs[g];
    if (G.arrived > 0 && (!same_site(G.site, site) || std::strcmp(G.what, what) != 0))
        fail_fiber("divergent warpgroup op: this thread at " + at + ", thread " + tid_str(w->fibers[G.first]) + " waits at " +
                   G.what + " (" + where(G.site) + ")");
    if (G.arrived == 0) {
        G.site = site;
        G.what = what;
        G.first = f->linear;
    }
    std::memcpy(G.v[l], v, sizeof G.v[l]);
    TSAN_RELEASE(&G.sync[f->wg_epoch & 1]);
    if (++G.arrived == 128) {
        TSAN_ACQUIRE(&G.sync[f->wg_epoch & 1]);
        done(w, g, G);
        G.arrived = 0;
        for (unsigned i = 128 * g; i < 128 * g + 128; i++)
            if (w->fibers[i].state == WARP_WAIT) w->fibers[i].state = READY;
        TSAN_RELEASE(&G.sync[f->wg_epoch & 1]);   // what done() read, before everyone's next step
    } else {
        park(f, WARP_WAIT, site, what);
    }
    TSAN_ACQUIRE(&G.sync[f->wg_epoch & 1]);
    f->wg_epoch++;
}

std::vector<float> wgmma_a_from_registers(const WgEpisode& e);

// The newest op of this thread still in flight on accumulator d, or null.
WgOpRef in_flight_on(const Fiber& f, const float* d) {
    for (auto it = f.wg_batch.rbegin(); it != f.wg_batch.rend(); ++it)
        if ((*it)->d[f.linear % 128] == d) return *it;
    for (auto g = f.wg_groups.rbegin(); g != f.wg_groups.rend(); ++g)
        for (auto it = g->rbegin(); it != g->rend(); ++it)
            if ((*it)->d[f.linear % 128] == d) return *it;
    return nullptr;
}

// At the rendezvous: record the op (operands are read later, at its first retirement), each
// thread's accumulator input, and take the accumulators away from the registers.
void wgmma_done(Worker* w, unsigned g, const WgEpisode& e) {
    const bool rs = (e.v[0][3] >> 12) & 1;   // A in registers: v[l][1] points at thread l's four
    for (int l = 1; l < 128; l++)
        if (std::memcmp(&e.v[l][1 + rs], &e.v[0][1 + rs], (3 - rs) * sizeof(uint64_t)) != 0)
            fail_fiber(std::string(e.what) + " (" + where(e.site) + "): threads 0 and " + std::to_string(l) +
                       " of the warpgroup pass different descriptors, shape or scale-d (they must be warpgroup-uniform)");
    for (int l = 0; l < 128; l++)
        if (!w->fibers[128 * g + l].wg_fenced)
            fail_fiber(std::string(e.what) + " (" + where(e.site) + "): thread " + tid_str(w->fibers[128 * g + l]) +
                       " of the warpgroup has no wgmma_fence() since the kernel began or its last wgmma_wait: the tensor cores "
                       "may not see its register writes (accumulators, A fragments); call wgmma_fence() before each batch of wgmma");
    const uint64_t flags = e.v[0][3];
    auto op = std::make_shared<WgOp>();
    if (rs) op->a_regs = wgmma_a_from_registers(e);
    op->site = e.site;
    op->a = e.v[0][1];
    op->b = e.v[0][2];
    op->n = (int)(flags & 0x1ff) / 2;
    op->ta = (int)((flags >> 9) & 1);
    op->tb = (int)((flags >> 10) & 1);
    op->scale = (int)((flags >> 11) & 1);
    if (op->scale) op->c.assign((size_t)128 * op->n, 0.0f);
    for (int l = 0; l < 128; l++) {
        Fiber& f = w->fibers[128 * g + l];
        float* d = reinterpret_cast<float*>(e.v[l][0]);
        op->d[l] = d;
        if (op->scale) {
            op->prev[l] = in_flight_on(f, d);
            if (op->prev[l] && op->prev[l]->n != op->n)
                fail_fiber(std::string(e.what) + " (" + where(e.site) + "): an accumulator of " + std::to_string(2 * op->n) +
                           " columns that an in-flight wgmma of " + std::to_string(2 * op->prev[l]->n) + " columns also writes");
            if (!op->prev[l])
                for (int i = 0; i < op->n; i++) op->c[(size_t)l * op->n + i] = d[i];
        }
        f.wg_batch.push_back(op);
        // In flight: the registers are the tensor core's until wgmma_wait retires the op.
        for (int i = 0; i < op->n; i++) d[i] = __builtin_nanf("");
    }
    w->wg_issued[g].push_back(op);
}

// Computes the warpgroup's in-flight ops in issue order up to and including `upto`: D = A B +
// (scale-d ? accumulator input : 0), exact products summed in double, rounded once.
void wgmma_compute(Worker* w, unsigned g, const WgOp* upto) {
    auto& q = w->wg_issued[g];
    TSAN_ACQUIRE(&w->wgs[g].computed);
    while (!upto->computed) {
        WgOpRef op = q.front();
        q.pop_front();
        float A[64][16], B[256][16];   // on the computing thread's fiber stack (20 KB of its 256 KB)
        if (op->a_regs.empty()) wgmma_operand(op->a, op->ta, 64, A, "A", op->site);
        else std::memcpy(A, op->a_regs.data(), sizeof A);
        wgmma_operand(op->b, op->tb, 2 * op->n, B, "B", op->site);
        op->out.assign((size_t)128 * op->n, 0.0f);
        for (int l = 0; l < 128; l++) {
            const float* c = !op->scale ? nullptr : op->prev[l] ? &op->prev[l]->out[(size_t)l * op->n] : &op->c[(size_t)l * op->n];
            for (int i = 0; i < op->n; i++) {
                const int r = wg_d_row(l, i), col = wg_d_col(l, i);
                double s = c ? (double)c[i] : 0.0;
                for (int k = 0; k < 16; k++) s += (double)A[r][k] * B[col][k];
                op->out[(size_t)l * op->n + i] = (float)s;
            }
            op->prev[l].reset();
        }
        op->c.clear();
        op->computed = true;
    }
    // The results live on the heap and are read (and freed) by the other threads' retirements.
    TSAN_RELEASE(&w->wgs[g].computed);
}

}  // namespace

void wgmma_bf16(float* d, int n, int trans_a, int trans_b, uint64_t a, uint64_t b, int scale_d, Site site) {
    if (n < 8 || n > 256 || n % 8) fail("wgmma m64n%dk16: N must be a multiple of 8 from 8 to 256", n);
    const uint64_t flags = (uint64_t)n | (uint64_t)(trans_a != 0) << 9 | (uint64_t)(trans_b != 0) << 10 | (uint64_t)(scale_d != 0) << 11;
    const uint64_t v[4] = {reinterpret_cast<uint64_t>(d), a, b, flags};
    wg_arrive("wgmma.mma_async", site, v, wgmma_done);
}

void wgmma_commit() {
    Fiber* f;
    current(&f);
    f->wg_groups.push_back(std::move(f->wg_batch));
    f->wg_batch.clear();
}

void wgmma_fence() {
    Fiber* f;
    current(&f);
    f->wg_fenced = true;
}

void wgmma_wait(int pending) {
    Fiber* f;
    Worker* w = current(&f);
    const int l = f->linear % 128;
    f->wg_fenced = false;   // the thread may touch what the retired ops wrote: the next wgmma needs a fence
    if (f->wg_groups.size() > (size_t)pending) TSAN_ACQUIRE(&w->wgs[f->linear / 128].computed);
    while (f->wg_groups.size() > (size_t)pending) {
        std::vector<WgOpRef> group = std::move(f->wg_groups.front());
        f->wg_groups.pop_front();
        for (const WgOpRef& op : group) {
            if (!op->computed) wgmma_compute(w, (unsigned)f->linear / 128, op.get());
            // A later op still in flight on the same accumulator keeps it (NaN) until it retires too.
            if (in_flight_on(*f, op->d[l])) continue;
            for (int i = 0; i < op->n; i++) op->d[l][i] = op->out[(size_t)l * op->n + i];
        }
    }
}

// ---- named barriers and register-A wgmma (bar.sync / bar.arrive; wgmma with A from registers)

namespace {

struct NamedWait {
    const NamedBar* bar;
    unsigned epoch;
};
bool named_episode_done(const void* a) {
    const NamedWait* n = static_cast<const NamedWait*>(a);
    return n->bar->epoch != n->epoch;
}

// The 64 x 16 A operand from the 128 threads' registers (v[l][1] -> four uint32_t): warp w of the
// group holds rows 16w .. 16w+15 in mma.m16n8k16's A fragment, two bf16 per register, low half first.
std::vector<float> wgmma_a_from_registers(const WgEpisode& e) {
    std::vector<float> a(64 * 16);
    for (int l = 0; l < 128; l++) {
        const uint32_t* r = reinterpret_cast<const uint32_t*>(e.v[l][1]);
        const int w = l >> 5, lane = l & 31;
        for (int i = 0; i < 8; i++) {
            const uint32_t u = (i & 1 ? r[i >> 1] >> 16 : r[i >> 1] & 0xffffu) << 16;
            std::memcpy(&a[(16 * w + mma_a_row(lane, i)) * 16 + mma_a_col(lane, i)], &u, 4);
        }
    }
    return a;
}

// The block ended: a named barrier still holding arrivals was arrived at by more threads than ever
// waited for it (its episode can never complete), a bug in the kernel's barrier protocol.
std::string named_bars_left_open(const Worker* w) {
    for (int id = 1; id < 16; id++) {
        const NamedBar& b = w->nbar[id];
        if (b.arrived)
            return "block ended with named barrier " + std::to_string(id) + " holding " + std::to_string(b.arrived) + " of " +
                   std::to_string(b.threads) + " arrivals (first by thread " + tid_str(w->fibers[b.first]) + " at " +
                   where(b.site) + "): its episode never completed";
    }
    return "";
}

}  // namespace

void named_bar(int id, int threads, bool wait, Site site) {
    Fiber* f;
    Worker* w = current(&f);
    const char* what = wait ? "named_bar_sync" : "named_bar_arrive";
    const std::string at = std::string(what) + "(" + std::to_string(id) + ", " + std::to_string(threads) + ") (" + where(site) + ")";
    if (id < 1 || id > 15) fail_fiber(at + ": barrier id " + std::to_string(id) + " (1..15; 0 is __syncthreads)");
    if (threads <= 0 || threads % 32)
        fail_fiber(at + ": thread count " + std::to_string(threads) + " is not a positive multiple of 32 (whole warps arrive)");
    if ((unsigned)threads > (w->n + 31) / 32 * 32)
        fail_fiber(at + ": thread count " + std::to_string(threads) + " exceeds the block's " + std::to_string(w->n) + " threads");
    NamedBar& b = w->nbar[id];
    if (b.arrived && b.threads != (unsigned)threads)
        fail_fiber(at + ": thread count differs from the " + std::to_string(b.threads) + " of thread " +
                   tid_str(w->fibers[b.first]) + " at " + where(b.site) + " in the same episode");
    if (b.in[f->linear])
        fail_fiber(at + ": this thread already arrived in the barrier's episode in progress (more arrivals than its " +
                   std::to_string(b.threads) + " threads; first by thread " + tid_str(w->fibers[b.first]) + " at " + where(b.site) + ")");
    if (!b.arrived) {
        b.threads = (unsigned)threads;
        b.site = site;
        b.first = f->linear;
    }
    const unsigned epoch = b.epoch;
    TSAN_RELEASE(&b.sync[epoch & 1]);
    b.in.set(f->linear);
    if (++b.arrived == b.threads) {
        b.arrived = 0;
        b.in.reset();
        b.epoch++;
    } else if (wait) {
        const NamedWait nw{&b, epoch};
        wait_until(named_episode_done, &nw, "named_bar_sync", site);
    }
    if (wait) TSAN_ACQUIRE(&b.sync[epoch & 1]);
}

void wgmma_bf16_rs(float* d, int n, int trans_b, const uint32_t* a, uint64_t b, int scale_d, Site site) {
    if (n < 8 || n > 256 || n % 8) fail("wgmma m64n%dk16 (A in registers): N must be a multiple of 8 from 8 to 256", n);
    const uint64_t flags = (uint64_t)n | (uint64_t)(trans_b != 0) << 10 | (uint64_t)(scale_d != 0) << 11 | 1ull << 12;
    const uint64_t v[4] = {reinterpret_cast<uint64_t>(d), reinterpret_cast<uint64_t>(a), b, flags};
    wg_arrive("wgmma.mma_async (A in registers)", site, v, wgmma_done);
}

// ---- the async proxy's view of shared memory (fence.proxy.async), bulk stores' reads, setmaxnreg

namespace {
// The CTA of the running cluster whose dynamic shared memory holds [p, p + n), or null.
Worker* owner_of(const void* p, size_t n) {
    Fiber* f;
    Worker* w = current(&f);
    const Cluster& C = *w->cluster;
    for (unsigned r = 0; r < C.size; r++) {
        Worker* o = C.cta[r];
        const unsigned char* b = static_cast<const unsigned char*>(o->smem);
        if (o->async_view && static_cast<const unsigned char*>(p) >= b && static_cast<const unsigned char*>(p) + n <= b + w->L->smem)
            return o;
    }
    return nullptr;
}
}  // namespace

void fence_proxy_async() {
    Fiber* f;
    Worker* w = current(&f);
    if (w->async_view) quiet_copy(w->async_view, static_cast<const unsigned char*>(w->smem), w->L->smem);
}

void async_proxy_wrote(const void* p, size_t n) {
    if (Worker* o = owner_of(p, n))
        quiet_copy(o->async_view + (static_cast<const unsigned char*>(p) - static_cast<const unsigned char*>(o->smem)),
                   static_cast<const unsigned char*>(p), n);
}

void async_proxy_reads(const void* p, size_t n, const char* what) {
    Worker* o = owner_of(p, n);
    if (!o) return;   // static __shared__: not tracked
    const size_t off = static_cast<const unsigned char*>(p) - static_cast<const unsigned char*>(o->smem);
    const size_t i = quiet_mismatch(o->async_view + off, static_cast<const unsigned char*>(p), n);
    if (i < n)
        fail_fiber(std::string(what) + ": reads shared-window byte " + std::to_string(off + i) + ", which a generic-proxy store changed "
                   "after the last fence_proxy_async (TMA and wgmma read through the async proxy: each thread that wrote the tile calls "
                   "fence_proxy_async() after its stores, before the barrier that hands the tile over)");
}

void bulk_issue(const void* box, size_t n, const char* what, Site site) {
    Fiber* f;
    current(&f);
    const unsigned char* b = static_cast<const unsigned char*>(box);
    BulkRead r{b, std::vector<unsigned char>(n), site, what, false};
    quiet_copy(r.bytes.data(), b, n);
    f->bulk.push_back(std::move(r));
}

void bulk_commit() {
    Fiber* f;
    current(&f);
    for (BulkRead& r : f->bulk) r.committed = true;
}

void bulk_wait(Site site) {
    Fiber* f;
    current(&f);
    std::vector<BulkRead> left;
    for (BulkRead& r : f->bulk) {
        if (!r.committed) {
            left.push_back(std::move(r));
            continue;
        }
        const size_t i = quiet_mismatch(r.bytes.data(), r.box, r.bytes.size());
        if (i < r.bytes.size())
            fail_fiber(std::string(r.what) + " (" + where(r.site) + "): byte " + std::to_string(i) + " of its shared box changed before "
                       "tma_store_wait (" + where(site) + ") retired it: the copy engine may read the box until then, so it may store the "
                       "new bytes; wait before reusing the box");
    }
    f->bulk = std::move(left);
}

namespace {
struct RegAsk {
    const Worker* w;
    unsigned g, regs;
};
// Whether the CTA's pool has room for warpgroup g at `regs` per thread, the others as they are.
bool registers_free(const void* a) {
    const RegAsk& q = *static_cast<const RegAsk*>(a);
    unsigned long long used = 0;
    for (unsigned i = 0; i < q.w->wg_regs.size(); i++) used += 128ull * (i == q.g ? q.regs : q.w->wg_regs[i]);
    return used <= q.w->reg_pool;
}
void setmaxnreg_done(Worker* w, unsigned g, const WgEpisode& e) {
    const unsigned regs = (unsigned)e.v[0][0];
    const bool inc = e.v[0][1] != 0;
    const std::string at = std::string(e.what) + " " + std::to_string(regs) + " (" + where(e.site) + ")";
    for (int l = 1; l < 128; l++)
        if (std::memcmp(e.v[l], e.v[0], 2 * sizeof(uint64_t)) != 0)
            fail_fiber(at + ": thread " + tid_str(w->fibers[128 * g + l]) + " asks for " + std::to_string(e.v[l][0]) +
                       " (the whole warpgroup executes the same setmaxnreg)");
    if (inc ? regs < w->wg_regs[g] : regs > w->wg_regs[g])
        fail_fiber(at + ": the warpgroup holds " + std::to_string(w->wg_regs[g]) + " registers per thread; ." + (inc ? "inc" : "dec") +
                   " must " + (inc ? "raise" : "lower") + " it");
    if (!inc) w->wg_regs[g] = regs;
}
}  // namespace

void setmaxnreg(unsigned regs, bool inc, Site site) {
    Fiber* f;
    Worker* w = current(&f);
    const char* what = inc ? "setmaxnreg.inc" : "setmaxnreg.dec";
    if (w->reg_pool == 0)
        fail_fiber(std::string(what) + " (" + where(site) + "): the kernel has no __launch_bounds__(threads, 1), so no register cap at "
                   "entry: ptxas ignores setmaxnreg (C7508); give the kernel launch bounds");
    const uint64_t v[4] = {regs, inc, 0, 0};
    wg_arrive(what, site, v, setmaxnreg_done);
    if (!inc) return;
    // .inc blocks until the CTA's pool has the registers (other warpgroups' .dec free them); a pool
    // that never has them is a hang on the GPU and a deadlock error here, naming this call.
    const unsigned g = (unsigned)f->linear / 128;
    const RegAsk a{w, g, regs};
    wait_until(registers_free, &a, "setmaxnreg.inc (the CTA's register pool: the cap at entry x threads)", site);
    w->wg_regs[g] = regs;
}

void fail(const char* fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    Fiber* f;
    current(&f);
    fail_fiber(b);
}

// ---- launch

int launch_entry(const KernelEntry* k, const unsigned grid[3], const unsigned block[3], unsigned smem,
                 void* const* params, const unsigned long long* sizes, int n_params, std::string& err) {
    const char* name = k->name;
    if (n_params != k->n_params) {
        err = std::string(name) + " takes " + std::to_string(k->n_params) + " arguments, got " + std::to_string(n_params);
        return 1;
    }
    for (int i = 0; i < n_params; i++)
        if (sizes[i] != k->sizes[i]) {
            err = std::string(name) + " argument " + std::to_string(i) + " (" + k->param_name(i) + ") is " +
                  std::to_string(sizes[i]) + " bytes, the kernel takes " + std::to_string(k->sizes[i]);
            return 1;
        }
    const unsigned long long threads = (unsigned long long)block[0] * block[1] * block[2];
    char shape[160];
    std::snprintf(shape, sizeof shape, "%s: grid (%u,%u,%u) block (%u,%u,%u) shared %u bytes: ", name, grid[0], grid[1],
                  grid[2], block[0], block[1], block[2], smem);
    if (threads == 0 || grid[0] == 0 || grid[1] == 0 || grid[2] == 0) { err = std::string(shape) + "empty launch"; return 1; }
    if (threads > 1024 || block[2] > 64) { err = std::string(shape) + "more than 1024 threads per block (or block.z > 64)"; return 1; }
    if (k->max_threads && threads > k->max_threads) {
        err = std::string(shape) + "more threads per block than the kernel's __launch_bounds__(" +
              std::to_string(k->max_threads) + ")";
        return 1;
    }
    if (grid[0] > 2147483647u || grid[1] > 65535 || grid[2] > 65535) {
        err = std::string(shape) + "grid.x > 2^31-1 or grid.y/z > 65535";
        return 1;
    }
    if (smem > 227u * 1024) { err = std::string(shape) + "dynamic shared memory over 227 KB"; return 1; }
    if (k->cluster[1] != 1 || k->cluster[2] != 1 || k->cluster[0] < 1 || k->cluster[0] > kMaxCluster) {
        err = std::string(shape) + "__cluster_dims__(" + std::to_string(k->cluster[0]) + "," + std::to_string(k->cluster[1]) + "," +
              std::to_string(k->cluster[2]) + "): the emulator models clusters (X,1,1) with X from 1 to " + std::to_string(kMaxCluster) +
              " (the portable maximum)";
        return 1;
    }
    if (grid[0] % k->cluster[0] != 0) {
        err = std::string(shape) + "grid.x is not a multiple of the kernel's __cluster_dims__ x (" + std::to_string(k->cluster[0]) +
              " CTAs per cluster): launch a multiple of " + std::to_string(k->cluster[0]) + " blocks along x";
        return 1;
    }

    Launch L;
    L.kernel = k;
    L.grid = dim3(grid[0], grid[1], grid[2]);
    L.block = dim3(block[0], block[1], block[2]);
    L.smem = smem;
    int sched = g_schedule.load();
    if (sched < 0) {
        const char* e = std::getenv("EMU_SCHEDULE");
        sched = e ? std::atoi(e) : 0;
        if (sched < 0 || sched > 2) sched = 0;
    }
    L.schedule = sched;
    L.cluster = k->cluster[0];
    // The arguments are copied, each at its type's alignment (8 at least; 64 for a CUtensorMap).
    std::vector<size_t> off;
    size_t bytes = 0;
    for (int i = 0; i < n_params; i++) {
        const size_t a = std::max<size_t>(8, k->aligns[i]);
        bytes = (bytes + a - 1) / a * a;
        off.push_back(bytes);
        bytes += sizes[i];
    }
    L.argbuf.assign(bytes / sizeof(Launch::Slot) + 1, Launch::Slot{});
    unsigned char* base = L.argbuf[0].b;
    for (int i = 0; i < n_params; i++) {
        std::memcpy(base + off[i], params[i], sizes[i]);
        L.argv.push_back(base + off[i]);
    }
    const unsigned long long clusters = (unsigned long long)grid[0] * grid[1] * grid[2] / L.cluster;
    int nw = g_workers.load();
    if (nw <= 0) nw = (int)std::max(1u, std::thread::hardware_concurrency());
    if ((unsigned long long)nw > clusters) nw = (int)clusters;
    std::vector<std::thread> threads_;
    for (int i = 1; i < nw; i++) threads_.emplace_back(worker_loop, &L);
    worker_loop(&L);
    for (auto& t : threads_) t.join();
    if (L.failed) { err = L.error; return 1; }
    return 0;
}

}  // namespace emu

// ---- C ABI (EMU_ABI.md)

extern "C" __attribute__((visibility("default"))) int emu_launch(const char* name, const unsigned grid[3],
                                                                  const unsigned block[3], unsigned smem_bytes,
                                                                  void* const* params, const unsigned long long* sizes,
                                                                  int n_params, char* err, unsigned long long errlen) {
    std::string e;
    int rc;
    try {
        const emu::KernelEntry* k = emu::find_kernel(name ? name : "");
        if (!k) {
            rc = 1;
            e = std::string("unknown kernel ") + (name ? name : "(null)");
        } else {
            rc = emu::launch_entry(k, grid, block, smem_bytes, params, sizes, n_params, e);
        }
    } catch (const std::exception& x) {
        rc = 1;
        e = std::string("emulator: ") + x.what();
    }
    if (rc && err && errlen) {
        std::snprintf(err, errlen, "%s", e.c_str());
        for (char* p = err; *p; p++)
            if (*p == '\n') *p = ' ';
    }
    return rc;
}

extern "C" __attribute__((visibility("default"))) int emu_set_schedule(int schedule) {
    if (schedule < 0 || schedule > 2) return -1;
    emu::g_schedule = schedule;
    return 0;
}

extern "C" __attribute__((visibility("default"))) void emu_set_workers(int n) { emu::g_workers = n; }
