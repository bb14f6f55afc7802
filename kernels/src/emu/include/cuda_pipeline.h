// cp.async through the pipeline primitives: the source is read at issue, the destination holds NaN
// bytes (0xFF) until __pipeline_wait_prior retires its group, so a missing wait reads NaN.
#pragma once
#include "cuda_runtime.h"

inline void __pipeline_memcpy_async(void* dst, const void* src, size_t size_and_align, size_t zfill = 0) {
    ::emu::cp_async(dst, src, size_and_align, zfill);
}
inline void __pipeline_commit() { ::emu::cp_commit(); }
inline void __pipeline_wait_prior(size_t prior) { ::emu::cp_wait_prior(prior); }
