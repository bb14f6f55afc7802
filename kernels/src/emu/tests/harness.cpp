#include "harness.h"

#include <chrono>
#include <cstdarg>
#include <cstdlib>

namespace t {

std::vector<Test>& registry() { static std::vector<Test> r; return r; }

static int g_failures = 0;
static uint64_t g_seed = 0;
static std::mt19937_64 g_rng;

void failf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::printf("    FAIL: ");
    std::vprintf(fmt, ap);
    std::printf("\n");
    va_end(ap);
    g_failures++;
}
std::mt19937_64& rng() { return g_rng; }
static int g_schedule = 0;
int schedule() { return g_schedule; }

std::vector<float> uniform(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> x(n);
    for (auto& v : x) v = d(g_rng);
    return x;
}

bool close(const char* what, const float* got, const double* want, size_t n, double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double err = std::fabs((double)got[i] - want[i]), tol = atol + rtol * std::fabs(want[i]);
        if (!(err <= tol)) {
            bad++;
            double ex = std::isnan(err) ? 1e300 : err - tol;
            if (ex > worst_excess) { worst_excess = ex; worst = i; }
        }
    }
    if (bad) failf("%s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g", what, bad, n, worst,
                   (double)got[worst], want[worst]);
    return bad == 0;
}
bool close(const char* what, const std::vector<float>& got, const std::vector<double>& want, double atol, double rtol) {
    if (got.size() != want.size()) { failf("%s: sizes differ", what); return false; }
    return close(what, got.data(), want.data(), got.size(), atol, rtol);
}

double gelu_ref(double x, int kind) {
    if (kind == 1) return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    const double c = std::sqrt(2.0 / M_PI);
    return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
}
double gelu_grad_ref(double x, int kind) {   // central difference of the reference, h small
    const double h = 1e-5;
    return (gelu_ref(x + h, kind) - gelu_ref(x - h, kind)) / (2 * h);
}

}  // namespace t

// Usage: emu_tests [schedule 0|1|2] [name-substring]
int main(int argc, char** argv) {
    int schedule = argc > 1 ? std::atoi(argv[1]) : 0;
    const char* filter = argc > 2 ? argv[2] : nullptr;
    const char* s = std::getenv("EMU_SEED");
    t::g_seed = s ? std::strtoull(s, nullptr, 10) : std::random_device{}() ^ ((uint64_t)std::random_device{}() << 32);
    t::g_schedule = schedule;
    if (emu_set_schedule(schedule) != 0) { std::printf("unknown schedule %d\n", schedule); return 2; }
    std::printf("emu_tests: schedule %d, seed %llu (EMU_SEED=%llu reproduces)\n", schedule,
                (unsigned long long)t::g_seed, (unsigned long long)t::g_seed);
    int run = 0, failed = 0;
    for (auto& test : t::registry()) {
        if (filter && !std::strstr(test.name, filter)) continue;
#if defined(__SANITIZE_THREAD__)
        // race_ tests race on purpose: under TSan they run alone (run-tests.sh expects the report).
        if (!filter && std::strncmp(test.name, "race_", 5) == 0) continue;
#endif
        t::g_rng.seed(t::g_seed ^ std::hash<std::string>{}(test.name));
        int before = t::g_failures;
        std::printf("  %s\n", test.name);
        std::fflush(stdout);
        auto t0 = std::chrono::steady_clock::now();
        test.fn();
        bool ok = t::g_failures == before;
        std::printf("    %s in %.2f s\n", ok ? "ok" : "failed",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        run++;
        if (!ok) failed++;
    }
    std::printf("emu_tests: schedule %d: %d tests, %d failed\n", schedule, run, failed);
    return failed ? 1 : 0;
}
