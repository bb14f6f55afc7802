// A small test harness for the emulated kernels: tests register themselves, draw fresh random
// inputs from a seed printed at start (EMU_SEED=n reproduces a run), launch kernels through the
// library's C ABI (emu_launch: the same path and argument checks the JVM uses) and compare with
// naive double-precision references written here, independently of the kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

extern "C" {
int emu_launch(const char* name, const unsigned grid[3], const unsigned block[3], unsigned smem_bytes,
               void* const* params, const unsigned long long* sizes, int n_params, char* err, unsigned long long errlen);
int emu_kernel_count(void);
const char* emu_kernel_name(int i);
int emu_kernel_param_count(int i);
unsigned long long emu_kernel_param_size(int i, int p);
int emu_set_schedule(int schedule);
void emu_set_workers(int n);
}

namespace t {

struct Test { const char* name; std::function<void()> fn; };
std::vector<Test>& registry();
struct Reg { Reg(const char* n, std::function<void()> f) { registry().push_back({n, f}); } };
// Tests named race_* race on purpose; the TSan build skips them unless named on the command line.
#define TEST(name) static void test_##name(); static ::t::Reg reg_##name(#name, test_##name); static void test_##name()

// Failure of the running test (it goes on, to report every problem).
void failf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::mt19937_64& rng();
// True in the ASan and TSan builds, which run smaller shapes (the same tile edges, fewer blocks).
constexpr bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#else
    return false;
#endif
}
int schedule();   // the schedule this run uses (0 in order, 1 reversed, 2 warp 0 far ahead)

// Device buffers: host memory filled with NaN bytes, as the Java side does for fresh allocations.
template <class T> struct Buf {
    std::vector<T> v;
    explicit Buf(size_t n) : v(n) { if (n) std::memset(v.data(), 0xff, n * sizeof(T)); }   // empty: no data pointer
    T* p() { return v.data(); }
    T& operator[](size_t i) { return v[i]; }
    size_t size() const { return v.size(); }
};
// n values uniform in [lo, hi).
std::vector<float> uniform(size_t n, float lo = -1.0f, float hi = 1.0f);
inline Buf<float> buf(const std::vector<float>& x) { Buf<float> b(x.size()); b.v = x; return b; }

struct Dim { unsigned x = 1, y = 1, z = 1; };

// Launches through emu_launch; returns its error message ("" on success).
template <class... A> std::string launch_err(const char* k, Dim g, Dim b, unsigned smem, A... a) {
    void* params[] = {static_cast<void*>(&a)..., nullptr};
    unsigned long long sizes[] = {sizeof(A)..., 0};
    unsigned gg[3] = {g.x, g.y, g.z}, bb[3] = {b.x, b.y, b.z};
    char err[512] = "";
    int rc = emu_launch(k, gg, bb, smem, params, sizes, (int)sizeof...(A), err, sizeof err);
    if (rc != 0 && !err[0]) return "emu_launch failed without a message";
    return rc ? std::string(err) : std::string();
}
template <class... A> bool launch(const char* k, Dim g, Dim b, unsigned smem, A... a) {
    std::string e = launch_err(k, g, b, smem, a...);
    if (!e.empty()) failf("launch of %s failed: %s", k, e.c_str());
    return e.empty();
}

// |got - want| <= atol + rtol |want| element-wise (NaN in got fails); reports the worst element.
bool close(const char* what, const float* got, const double* want, size_t n, double atol, double rtol);
bool close(const char* what, const std::vector<float>& got, const std::vector<double>& want, double atol, double rtol);

inline unsigned cdiv(long long a, long long b) { return (unsigned)((a + b - 1) / b); }
inline double bf16_round(double x) {   // the reference's own RNE rounding to bf16
    float f = (float)x; uint32_t u; std::memcpy(&u, &f, 4);
    if (std::isnan(f)) return f;
    uint32_t lsb = (u >> 16) & 1u; u = (u + 0x7fffu + lsb) & 0xffff0000u;
    std::memcpy(&f, &u, 4); return f;
}
// bf16 bits of x rounded to nearest even, and a bf16's value (test operands are bf16 bit arrays).
inline uint16_t bf(double x) {
    float g = (float)bf16_round(x);
    uint32_t u;
    std::memcpy(&u, &g, 4);
    return (uint16_t)(u >> 16);
}
inline double unbf(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Element-wise comparison with a per-element bound (NaN fails); reports the worst element when
// it goes out of scope.
struct Checker {
    std::string what;
    size_t bad = 0, n = 0, worstI = 0;
    double worstEx = -1, worstGot = 0, worstWant = 0, worstTol = 0;
    void operator()(size_t i, double got, double want, double tol) {
        n++;
        double err = std::fabs(got - want);
        if (!(err <= tol)) {
            bad++;
            double ex = std::isnan(err) ? 1e300 : err - tol;
            if (ex > worstEx) { worstEx = ex; worstI = i; worstGot = got; worstWant = want; worstTol = tol; }
        }
    }
    ~Checker() {
        if (bad)
            failf("%s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g (bound %.3g)", what.c_str(), bad, n, worstI, worstGot,
                  worstWant, worstTol);
    }
};
double gelu_ref(double x, int kind);
double gelu_grad_ref(double x, int kind);

}  // namespace t
