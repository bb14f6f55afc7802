// Host driver for Bf16BitsTest: reads fp32 bit patterns (hex, one per line) on stdin and
// writes bf16_bits_rne of each (hex, one per line): the kernels' own conversion, compiled by g++.
#include <cstdio>
#include <cstring>
#include "../../main/cuda/bf16.cuh"

int main() {
    unsigned int u;
    while (std::scanf("%x", &u) == 1) {
        float f;
        std::memcpy(&f, &u, sizeof f);
        std::printf("%04x\n", bf16_bits_rne(f));
    }
    return 0;
}
