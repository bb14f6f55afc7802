// The emulator's stand-in for the driver API header: only the tensor-map type the Hopper kernels
// take by value (`const __grid_constant__ CUtensorMap map`). Same size and alignment as CUDA's
// (128 bytes, 64-byte aligned); its bytes are the emulator's own encoding (emu_encode_tensor_map,
// hopper.cpp; EmulatedRuntime.encodeTensorMap on the JVM), which emu/hopper.h decodes.
#pragma once

typedef struct CUtensorMap_st {
    alignas(64) unsigned long long opaque[16];
} CUtensorMap;
static_assert(sizeof(CUtensorMap) == 128 && alignof(CUtensorMap) == 64, "CUtensorMap is 128 bytes, 64-byte aligned");

// cuTensorMapEncodeTiled's swizzle modes (the values CUDA's enum has).
enum CUtensorMapSwizzle {
    CU_TENSOR_MAP_SWIZZLE_NONE = 0,
    CU_TENSOR_MAP_SWIZZLE_32B = 1,
    CU_TENSOR_MAP_SWIZZLE_64B = 2,
    CU_TENSOR_MAP_SWIZZLE_128B = 3,
};

extern "C" {
// A 2D tile-mode map of a rows x cols row-major matrix (elem_bytes each, row_stride_bytes apart) moved
// in box_rows x box_cols boxes; the driver's checks; 0, or 1 with a one-line reason in err.
int emu_encode_tensor_map(unsigned long long address, unsigned long long rows, unsigned long long cols,
                          unsigned long long row_stride_bytes, unsigned elem_bytes, unsigned box_rows, unsigned box_cols,
                          unsigned swizzle, void* out128, char* err, unsigned long long errlen);
}
