// The kernel table (registry.cpp) as the runtime sees it.
#pragma once
#include <string>
#include <type_traits>
#include <utility>

namespace emu {

constexpr int kMaxParams = 32;

struct KernelEntry {
    const char* name;
    void (*invoke)(void* const* argv);   // calls the kernel with argv[i] pointing at argument i
    int n_params;
    unsigned long long sizes[kMaxParams];
    unsigned long long aligns[kMaxParams];   // each parameter's alignof (a by-value CUtensorMap: 64)
    const char* params;                  // comma-separated parameter names, from the sources
    unsigned max_threads;                // __launch_bounds__ (0: none): a bigger block fails, as on a GPU
    unsigned cluster[3];                 // __cluster_dims__ ({1, 1, 1}: none); grid.x must be a multiple of cluster[0]
    std::string param_name(int i) const;
};

// A table entry for kernel F; its parameter sizes come from F's type.
template <auto F, class... A> void invoke_as(void* const* argv, void (*)(A...)) {
    [&]<size_t... I>(std::index_sequence<I...>) {
        F(*static_cast<std::remove_cvref_t<A>*>(argv[I])...);
    }(std::index_sequence_for<A...>{});
}
template <auto F> void invoke(void* const* argv) { invoke_as<F>(argv, F); }
template <class... A> constexpr int count_of(void (*)(A...)) { return sizeof...(A); }
template <auto F> KernelEntry make_entry(const char* name, const char* params, unsigned max_threads = 0, unsigned cluster_x = 1,
                                         unsigned cluster_y = 1, unsigned cluster_z = 1) {
    static_assert(count_of(F) <= kMaxParams, "raise kMaxParams");
    KernelEntry e{name, &invoke<F>, count_of(F), {}, {}, params, max_threads, {cluster_x, cluster_y, cluster_z}};
    [&]<class... A>(void (*)(A...)) {
        int i = 0;
        ((e.sizes[i] = sizeof(A), e.aligns[i] = alignof(A), i++), ...);
    }(F);
    return e;
}

const KernelEntry* find_kernel(const char* name);
// Runs kernel k (emu_launch after the name lookup); "" or the error in err.
int launch_entry(const KernelEntry* k, const unsigned grid[3], const unsigned block[3], unsigned smem,
                 void* const* params, const unsigned long long* sizes, int n_params, std::string& err);
int kernel_count();
const KernelEntry& kernel_at(int i);

}  // namespace emu
