// Happens-before edges for ThreadSanitizer where the emulator orders fibers itself (barriers,
// mbarriers, warp exchanges): TSan cannot see those orderings, so they are told to it here. No-ops
// outside the TSan flavour (EMU_TSAN). Shared by runtime.cpp and hopper.cpp.
#pragma once
#if defined(EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#define TSAN_RELEASE(p) __tsan_release(p)
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define TSAN_RELEASE(p) ((void)0)
#define TSAN_ACQUIRE(p) ((void)0)
#endif
