// The kernel table: every extern "C" __global__ kernel of src/main/cuda, compiled for the host,
// with its parameter sizes deduced from the function's type (so a Java caller passing a long
// where the kernel takes an int is refused). gen-kernel-list.sh fails the build when this table
// and the sources' kernels differ, and supplies the parameter names used in error messages and
// each kernel's __launch_bounds__ (a bigger block is refused, as the GPU refuses it) and
// __cluster_dims__ (its CTAs run as clusters; grid.x must be a multiple of the cluster's x).
#include "vit22b.cu"

#include <cstring>

#include "emu/runtime.h"

namespace emu {
namespace {

struct SourceKernel { const char* name; const char* params; unsigned max_threads, cluster[3]; };
#define EMU_SOURCE_KERNEL(name, params, bound, cx, cy, cz) {#name, params, (bound), {(cx), (cy), (cz)}},
constexpr SourceKernel kSources[] = {
#include "kernel_sources.inc"
};

const SourceKernel& source_of(const char* name) {
    for (const SourceKernel& s : kSources)
        if (std::strcmp(s.name, name) == 0) return s;
    static const SourceKernel none{"", "", 0, {1, 1, 1}};   // gen-kernel-list.sh fails the build first
    return none;
}

#define EMU_KERNEL(name)                                                                                       \
    make_entry<&name>(#name, source_of(#name).params, source_of(#name).max_threads, source_of(#name).cluster[0], \
                      source_of(#name).cluster[1], source_of(#name).cluster[2])
// One line per kernel (kernel_sources.inc is the sources' list; the build checks they agree).
const KernelEntry kTable[] = {
    EMU_KERNEL(gemm_f32),
    EMU_KERNEL(gemm_bf16_mma),
    EMU_KERNEL(gemm_bf16_wgmma),
    EMU_KERNEL(gemm_bf16_wgmma_qk),
    EMU_KERNEL(attn_fwd),
    EMU_KERNEL(attn_bwd_delta),
    EMU_KERNEL(attn_bwd_dq),
    EMU_KERNEL(attn_bwd_dkdv),
    EMU_KERNEL(attn_fwd_simt_bf16),
    EMU_KERNEL(attn_bwd_dq_simt_bf16),
    EMU_KERNEL(attn_bwd_dkdv_simt_bf16),
    EMU_KERNEL(attn_fwd_bf16),
    EMU_KERNEL(attn_bwd_delta_bf16),
    EMU_KERNEL(attn_bwd_dq_bf16),
    EMU_KERNEL(attn_bwd_dkdv_bf16),
    EMU_KERNEL(attn_fwd_wgmma),
    EMU_KERNEL(attn_bwd_wgmma),
    EMU_KERNEL(attn_bwd_dq_add),
    EMU_KERNEL(norm_fwd),
    EMU_KERNEL(norm_fwd_bf16),
    EMU_KERNEL(norm_bwd_dx),
    EMU_KERNEL(norm_bwd_dx_bf16),
    EMU_KERNEL(norm_bwd_params),
    EMU_KERNEL(norm_bwd_params_bf16),
    EMU_KERNEL(qknorm_fwd),
    EMU_KERNEL(qknorm_fwd_bf16),
    EMU_KERNEL(qknorm_bwd),
    EMU_KERNEL(qknorm_bwd_bf16),
    EMU_KERNEL(add_f32),
    EMU_KERNEL(add_bf16),
    EMU_KERNEL(scale_f32),
    EMU_KERNEL(scale_bf16),
    EMU_KERNEL(gelu_fwd),
    EMU_KERNEL(gelu_fwd_bf16),
    EMU_KERNEL(gelu_cols_bf16),
    EMU_KERNEL(gelu_bwd),
    EMU_KERNEL(gelu_bwd_bf16),
    EMU_KERNEL(gelu_bwd_cols),
    EMU_KERNEL(gelu_bwd_cols_bf16),
    EMU_KERNEL(broadcast_rows),
    EMU_KERNEL(broadcast_rows_bf16),
    EMU_KERNEL(col_sum),
    EMU_KERNEL(col_sum_bf16),
    EMU_KERNEL(col_sum_bf16_bf16),
    EMU_KERNEL(to_heads),
    EMU_KERNEL(to_heads_bf16),
    EMU_KERNEL(from_heads),
    EMU_KERNEL(from_heads_bf16),
    EMU_KERNEL(im2col),
    EMU_KERNEL(im2col_bf16),
    EMU_KERNEL(pos_grad),
    EMU_KERNEL(pos_grad_bf16),
    EMU_KERNEL(sum_squares),
    EMU_KERNEL(sum_squares_bf16),
    EMU_KERNEL(loss_fwd_bwd),
    EMU_KERNEL(loss_fwd_bwd_bf16),
    EMU_KERNEL(adamw_f32),
    EMU_KERNEL(adamw_multi),
    EMU_KERNEL(adamw_multi_f32copy),
    EMU_KERNEL(adamw_scalars),
    EMU_KERNEL(f32_to_bf16),
    EMU_KERNEL(bf16_to_f32),
    EMU_KERNEL(round_bf16_f32),
    EMU_KERNEL(zero_u16),
    EMU_KERNEL(fill_uniform),
    EMU_KERNEL(gemm_epilogue),
};

}  // namespace

std::string KernelEntry::param_name(int i) const {
    const char* p = params;
    for (int k = 0; k < i && p; k++) {
        p = std::strchr(p, ',');
        if (p) p++;
    }
    if (!p || !*p) return "?";
    const char* e = std::strchr(p, ',');
    return e ? std::string(p, e) : std::string(p);
}

const KernelEntry* find_kernel(const char* name) {
    for (const KernelEntry& e : kTable)
        if (std::strcmp(e.name, name) == 0) return &e;
    return nullptr;
}
int kernel_count() { return (int)(sizeof kTable / sizeof kTable[0]); }
const KernelEntry& kernel_at(int i) { return kTable[i]; }

}  // namespace emu

#define EMU_API extern "C" __attribute__((visibility("default")))
EMU_API int emu_kernel_count(void) { return emu::kernel_count(); }
EMU_API const char* emu_kernel_name(int i) {
    return i >= 0 && i < emu::kernel_count() ? emu::kernel_at(i).name : nullptr;
}
EMU_API int emu_kernel_param_count(int i) {
    return i >= 0 && i < emu::kernel_count() ? emu::kernel_at(i).n_params : -1;
}
EMU_API unsigned long long emu_kernel_param_size(int i, int p) {
    if (i < 0 || i >= emu::kernel_count()) return 0;
    const emu::KernelEntry& e = emu::kernel_at(i);
    return p >= 0 && p < e.n_params ? e.sizes[p] : 0;
}
