// Loads libvit22b_emu.so the way the JVM does (dlopen, then the C ABI of EMU_ABI.md through
// dlsym) and runs one kernel: catches what linking the objects into a test binary cannot, such as
// a library that dlopen refuses (e.g. a TLS model needing static TLS) or a missing export.
// Usage: abi_check LIBRARY.so
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

using Launch = int (*)(const char*, const unsigned*, const unsigned*, unsigned, void* const*, const unsigned long long*,
                       int, char*, unsigned long long);

int main(int argc, char** argv) {
    if (argc != 2) { std::fprintf(stderr, "usage: abi_check LIBRARY.so\n"); return 2; }
    void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { std::printf("abi_check: dlopen failed: %s\n", dlerror()); return 1; }
    const char* names[] = {"emu_launch", "emu_kernel_count", "emu_kernel_name", "emu_kernel_param_count",
                           "emu_kernel_param_size", "emu_set_schedule", "emu_set_workers"};
    for (const char* n : names)
        if (!dlsym(h, n)) { std::printf("abi_check: %s is not exported\n", n); return 1; }
    auto launch = reinterpret_cast<Launch>(dlsym(h, "emu_launch"));
    auto count = reinterpret_cast<int (*)()>(dlsym(h, "emu_kernel_count"));
    std::vector<float> a(1000, 1.5f), b(1000, 2.25f);
    float* pa = a.data();
    const float* pb = b.data();
    long long n = 1000;
    void* params[] = {&pa, &pb, &n};
    unsigned long long sizes[] = {8, 8, 8};
    unsigned grid[3] = {2, 1, 1}, block[3] = {256, 1, 1};
    char err[256] = "";
    if (launch("add_f32", grid, block, 0, params, sizes, 3, err, sizeof err) != 0) {
        std::printf("abi_check: add_f32 failed: %s\n", err);
        return 1;
    }
    for (float v : a)
        if (v != 3.75f) { std::printf("abi_check: add_f32 computed %g, want 3.75\n", v); return 1; }
    sizes[2] = 4;   // an int where the kernel takes a long long
    if (launch("add_f32", grid, block, 0, params, sizes, 3, err, sizeof err) == 0 || !std::strstr(err, "argument 2 (n)")) {
        std::printf("abi_check: a 4-byte n was not refused (\"%s\")\n", err);
        return 1;
    }
    std::printf("abi_check: %s loads with dlopen, %d kernels, add_f32 runs, wrong sizes are refused\n", argv[1], count());
    return 0;
}
