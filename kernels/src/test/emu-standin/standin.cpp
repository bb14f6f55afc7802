// A stand-in for libvit22b_emu.so with the same C ABI (EMU_ABI.md) and three trivial kernels,
// so the Java side of the emulated device is tested on its own. Compiled by EmulatedRuntimeTest.
#include <cstdio>
#include <cstring>

namespace {
struct Kernel { const char* name; int n; unsigned long long sizes[4]; };
const Kernel table[] = {
    {"fill_f32", 3, {8, 4, 8}},       // (float* p, float v, long long n)
    {"axpy_f32", 4, {8, 8, 4, 4}},    // (float* y, const float* x, float a, int n): y += a x
    {"trap", 0, {}},                  // always fails, as a barrier deadlock would
};
const int count = sizeof(table) / sizeof(table[0]);
}

extern "C" {
int emu_kernel_count(void) { return count; }
const char* emu_kernel_name(int i) { return table[i].name; }
int emu_kernel_param_count(int i) { return table[i].n; }
unsigned long long emu_kernel_param_size(int i, int p) { return table[i].sizes[p]; }
int emu_set_schedule(int s) { return s >= 0 && s <= 2 ? 0 : -1; }
void emu_set_workers(int) {}

int emu_launch(const char* name, const unsigned grid[3], const unsigned block[3], unsigned smem,
               void* const* params, const unsigned long long* sizes, int n, char* err, unsigned long long errlen) {
    (void) smem; (void) sizes; (void) n;
    unsigned long long threads = 1ull * grid[0] * grid[1] * grid[2] * block[0] * block[1] * block[2];
    if (std::strcmp(name, "fill_f32") == 0) {
        float* p = *(float* const*) params[0];
        float v = *(const float*) params[1];
        long long m = *(const long long*) params[2];
        for (unsigned long long t = 0; t < threads; t++)
            for (long long i = (long long) t; i < m; i += (long long) threads) p[i] = v;
        return 0;
    }
    if (std::strcmp(name, "axpy_f32") == 0) {
        float* y = *(float* const*) params[0];
        const float* x = *(const float* const*) params[1];
        float a = *(const float*) params[2];
        int m = *(const int*) params[3];
        for (int i = 0; i < m; i++) y[i] += a * x[i];
        return 0;
    }
    std::snprintf(err, errlen, "%s: block (0,0,0) thread (0,0,0): barrier deadlock (stand-in)", name);
    return 1;
}
}
