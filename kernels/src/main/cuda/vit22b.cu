// The one translation unit nvcc compiles into vit22b.fatbin: includes every kernel file, so the
// module holds all kernels (a fatbin carries one image per architecture). Kernel names are
// extern "C"; the Java side (vit22b.kernels.Kernel) lists them.
#include "gemm.cu"
#include "gemm_bf16_mma.cu"
#include "gemm_bf16_wgmma.cu"
#include "attention.cu"
#include "attention_bf16.cu"
#include "attention_wgmma.cu"
#include "attention_wgmma_bwd.cu"
#include "norm.cu"
#include "misc.cu"
