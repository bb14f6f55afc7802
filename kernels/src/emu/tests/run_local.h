// Launching test kernels that are not in the kernel table (emu::launch_entry with an entry made on
// the spot: the same argument copying, checks and scheduler as emu_launch), and expecting errors.
#pragma once
#include <cstdio>
#include <string>

#include "emu/runtime.h"
#include "harness.h"

namespace t {

// cluster: the kernel's __cluster_dims__ x (a test kernel is not in the table gen-kernel-list.sh reads).
template <auto F, class... A> std::string run_kb(const char* name, unsigned max_threads, unsigned cluster, Dim g, Dim b, unsigned smem,
                                                 A... a) {
    const emu::KernelEntry e = emu::make_entry<F>(name, "", max_threads, cluster);
    void* params[] = {static_cast<void*>(&a)..., nullptr};
    unsigned long long sizes[] = {sizeof(A)..., 0};
    unsigned gg[3] = {g.x, g.y, g.z}, bb[3] = {b.x, b.y, b.z};
    std::string err;
    emu::launch_entry(&e, gg, bb, smem, params, sizes, (int)sizeof...(A), err);
    return err;
}

template <auto F, class... A> std::string run_k(const char* name, unsigned cluster, Dim g, Dim b, unsigned smem, A... a) {
    return run_kb<F>(name, 0u, cluster, g, b, smem, a...);
}

inline void expect_error(const std::string& err, const char* contains, const char* what) {
    if (err.empty()) failf("%s: no error reported", what);
    else if (err.find(contains) == std::string::npos) failf("%s: error \"%s\" lacks \"%s\"", what, err.c_str(), contains);
    else std::printf("    %s, as expected: %s\n", what, err.c_str());
}
inline void expect_ok(const std::string& err, const char* what) {
    if (!err.empty()) failf("%s: %s", what, err.c_str());
}

}  // namespace t

#define RUN(k, ...) ::t::run_k<&k>(#k, 1u, __VA_ARGS__)
// A test kernel launched as clusters of x CTAs along x, as if it were declared __cluster_dims__(x, 1, 1).
#define RUN_CLUSTER(k, x, ...) ::t::run_k<&k>(#k, (unsigned)(x), __VA_ARGS__)
// A test kernel launched as if declared __launch_bounds__(threads, 1) (setmaxnreg's register cap at entry).
#define RUN_BOUNDED(k, threads, ...) ::t::run_kb<&k>(#k, (unsigned)(threads), 1u, __VA_ARGS__)
