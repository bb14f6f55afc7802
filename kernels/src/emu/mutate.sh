#!/usr/bin/env bash
# Mutation check of the emulated-device test suite: injects realistic kernel bugs (dropped
# barriers, tile-edge off-by-ones, wrong strides, a missing cp.async wait, a divergent shuffle,
# out-of-bounds writes, a wrong fragment index, ...) one at a time into a temporary copy of the
# sources, rebuilds the test binary and runs the C++ suite on it. A mutant is caught when the
# suite fails (wrong results, an emulator error, a sanitizer report, or a hang). Prints caught /
# not caught per mutant and writes the tally to bench/results/emu-mutations.txt.
# The real sources are never modified. Mutants run in EMU_MUTATE_JOBS parallel slots (default:
# the number of cores), each with its own copy of the sources and objects.
# Usage: kernels/src/emu/mutate.sh [OUT_FILE]
#        kernels/src/emu/mutate.sh --check   (builds and runs nothing: fails, naming them, on mutants whose
#        FROM no longer occurs exactly once, e.g. after the code moved; run-tests.sh runs it on every build)
#   EMU_MUTATE_ONLY=FILE (e.g. attention_bf16.cu) runs only that file's mutants, and runs only the
#   tests whose names contain EMU_MUTATE_TESTS (if set) on them; the tally then goes to
#   bench/results/emu-mutations-FILE.txt unless OUT_FILE is given (a quick check of one kernel on
#   a loaded machine; the full run is the record).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kernels=$(cd "$here/../.." && pwd)
repo=$(cd "$kernels/.." && pwd)
only=${EMU_MUTATE_ONLY:-}
tests=${EMU_MUTATE_TESTS:-}
check=0; [ "${1:-}" = --check ] && { check=1; shift; }
out=${1:-$repo/bench/results/emu-mutations${only:+-${only%.*}}.txt}
B=$kernels/target/emu
jobs=${EMU_MUTATE_JOBS:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
seed=${EMU_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
export EMU_SEED=$seed ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1

# mutant FLAVOUR FILE DESCRIPTION FROM TO: FROM must occur exactly once in FILE. FLAVOUR is the
# build that runs it: plain (all three schedules) or asan (for bugs that only corrupt memory).
specs=()
mutant() { [ -z "$only" ] || [ "$2" = "$only" ] && specs+=("$1"$'\x1f'"$2"$'\x1f'"$3"$'\x1f'"$4"$'\x1f'"$5"); return 0; }

mutant plain gemm.cu "dropped barrier between the tile loads and the FMA loop" \
  $'        }\n        __syncthreads();\n        #pragma unroll\n        for (int kk' $'        }\n        #pragma unroll\n        for (int kk'
mutant plain gemm.cu "dropped barrier before the next K tile overwrites shared memory" \
  $'        }\n        __syncthreads();\n    }\n' $'        }\n    }\n'
mutant plain gemm.cu "tile-edge off-by-one: A loads read k = K" \
  '(gm < M && gk < K) ?' '(gm < M && gk <= K) ?'
mutant plain gemm.cu "epilogue writes one column past N" \
  'if (n >= N) continue;' 'if (n > N) continue;'
mutant plain gemm.cu "residual read with C's stride (ldc for ldr)" \
  'res[(long long)(m % resRows) * ldr + n]' 'res[(long long)(m % resRows) * ldc + n]'
mutant plain gemm_bf16_mma.cu "ldmatrix lanes swapped: A's matrices 1 and 2 exchanged (rows 8-15 for k 8-15)" \
  'const int row = wm + i * 16 + (j8 & 1) * 8, k = kk + (j8 >> 1) * 8;' 'const int row = wm + i * 16 + (j8 >> 1) * 8, k = kk + (j8 & 1) * 8;'
mutant plain gemm_bf16_mma.cu "B fragments of the second n8 tile taken from the wrong ldmatrix registers" \
  'bfr[2 * p + 1][0] = r[2]; bfr[2 * p + 1][1] = r[3];' 'bfr[2 * p + 1][0] = r[1]; bfr[2 * p + 1][1] = r[3];'
mutant plain gemm_bf16_mma.cu "missing cp.async wait before a stage is read" \
  '        __pipeline_wait_prior(MMA_STAGES - 2);   // tile kt has landed' '        // tile kt has landed'
mutant plain gemm_bf16_mma.cu "cp.async wait one group short (tile kt may still be in flight)" \
  '__pipeline_wait_prior(MMA_STAGES - 2);' '__pipeline_wait_prior(MMA_STAGES - 1);'
mutant plain gemm_bf16_mma.cu "dropped barrier between the stage's copies and its reads" \
  '        __syncthreads();                         // everyone' '        // everyone'
mutant plain gemm_bf16_mma.cu "prefetch into the stage being read (one stage too far ahead)" \
  'load(kt + MMA_STAGES - 1);' 'load(kt + MMA_STAGES);'
mutant plain gemm_bf16_mma.cu "tile-edge off-by-one: a partial last chunk copied whole (reads the padding)" \
  'if (outer < outerExt && c + 8 <= cExt) {' 'if (outer < outerExt && c + 8 <= cExt + 1) {'
mutant asan gemm_bf16_mma.cu "tile-edge off-by-one: one row past the operand copied (out-of-bounds read)" \
  'if (outer < outerExt && c + 8 <= cExt) {' 'if (outer <= outerExt && c + 8 <= cExt) {'
mutant plain gemm_bf16_mma.cu "epilogue writes one column past N" \
  'if (n < N) gemm_epilogue_at(e, m, n,' 'if (n <= N) gemm_epilogue_at(e, m, n,'
mutant plain gemm_bf16_mma.cu "trans swizzle of the reader differs from the writer's" \
  'if (A_KMAJOR) ldmatrix_x4(af[i], sA + mma_kmajor(row + r8, k));' 'if (A_KMAJOR) ldmatrix_x4(af[i], sA + mma_kmajor(row + r8, k ^ 8));'
mutant plain gemm_common.cuh "GELU backward applied after the accumulate (scales C_old too)" \
  $'    if (e.gelu == MMA_GELU_BWD && inGelu) v *= gelu_grad_f(ld(e.gaux + (long long)m * e.ldg + j) + gb, e.geluKind);\n    if (e.beta != 0.0f) v += e.beta * ld(e.C + (long long)m * e.ldc + n);\n' \
  $'    if (e.beta != 0.0f) v += e.beta * ld(e.C + (long long)m * e.ldc + n);\n    if (e.gelu == MMA_GELU_BWD && inGelu) v *= gelu_grad_f(ld(e.gaux + (long long)m * e.ldg + j) + gb, e.geluKind);\n'
mutant plain gemm_bf16_mma.cu "bias gradient reads dbias when beta = 0 (it is not zeroed first)" \
  '*d = (beta != 0.0f ? beta * *d : 0.0f) + rowSum;' '*d = beta * *d + rowSum;'
mutant plain gemm_common.cuh "GELU forward output indexed by n instead of n - geluCol0" \
  'st(e.gaux + (long long)m * e.ldg + j, gelu_f(v + gb, e.geluKind));' 'st(e.gaux + (long long)m * e.ldg + n, gelu_f(v + gb, e.geluKind));'
mutant plain gemm_common.cuh "grouped raster: block rows of the last group miscounted" \
  'rows = min(tilesY - first, MMA_RASTER);' 'rows = MMA_RASTER;'
mutant plain gemm_bf16_wgmma.cu "B multicast into this CTA only (the peer's stage misses this half)" \
  'constexpr uint16_t everyone = (1u << WG_CLUSTER) - 1;' 'const uint16_t everyone = 1u << rank;'
mutant plain gemm_bf16_wgmma.cu "a stage released twice on this CTA's empty barrier, never on the peer's" \
  'mbar_arrive_cluster(empty, p);' 'mbar_arrive_cluster(empty, cluster_ctarank());'
mutant plain gemm_bf16_wgmma.cu "no cluster_sync between the barriers' init and the peer's first multicast" \
  '    cluster_sync();   // every CTA'"'"'s barriers' '    __syncthreads();   // every CTA'"'"'s barriers'
mutant plain gemm_bf16_wgmma.cu "the cluster's second CTA computes the first one's tile row" \
  'm0 = (tp * WG_CLUSTER + (int)rank) * WG_BM;' 'm0 = (tp * WG_CLUSTER) * WG_BM;'
mutant plain gemm_bf16_wgmma.cu "K-major B: both CTAs' halves land at the first half of the tile" \
  'tma_load_2d_multicast(b + rank * bRows * 128,' 'tma_load_2d_multicast(b,'
mutant plain attention.cu "divergent shuffle: only lanes with a key enter warp_max" \
  'float mNew = fmaxf(mx, warp_max(s));' 'float mNew = fmaxf(mx, t0 + lane < Nk ? warp_max(s) : s);'
mutant plain attention.cu "off-by-one: dkdv drops the last query of each tile" \
  'int in = min(TILE, Nq - t0);' 'int in = min(TILE, Nq - t0 - 1);'
mutant plain attention.cu "delta reads out/dout with the unpadded row stride" \
  '    long long base = ((long long)b * Nq + row) * ldo + (long long)h * hd;' \
  '    long long base = ((long long)b * Nq + row) * (H * hd) + (long long)h * hd;'
mutant asan attention.cu "rows past Nq write output and lse (out-of-bounds write)" \
  $'    if (!live) return;\n    const int b = bh / H, h = bh % H;\n    T* o' $'    const int b = bh / H, h = bh % H;\n    T* o'
mutant plain attention.cu "dropped barrier before the K/V tile is overwritten" \
  $'    for (int t0 = 0; t0 < Nk; t0 += TILE) {\n        __syncthreads();\n        for (int e = threadIdx.x; e < TILE * hd; e += blockDim.x) {\n            int j = e / hd, d = e % hd, key = t0 + j;\n            Ks[j * P + d] = key < Nk ? ld(kb + (long long)key * hd + d) : 0.0f;\n            Vs[j * P + d] = key < Nk ? ld(vb + (long long)key * hd + d) : 0.0f;\n        }\n        __syncthreads();\n        float s = -INFINITY;' \
  $'    for (int t0 = 0; t0 < Nk; t0 += TILE) {\n        for (int e = threadIdx.x; e < TILE * hd; e += blockDim.x) {\n            int j = e / hd, d = e % hd, key = t0 + j;\n            Ks[j * P + d] = key < Nk ? ld(kb + (long long)key * hd + d) : 0.0f;\n            Vs[j * P + d] = key < Nk ? ld(vb + (long long)key * hd + d) : 0.0f;\n        }\n        __syncthreads();\n        float s = -INFINITY;'
mutant plain attention.cu "dq overwritten instead of accumulated" \
  'st(o + d, ld(o + d) + acc[c] * scale);' 'st(o + d, acc[c] * scale);'
mutant plain attention.cu "delta: out read for dout" \
  'fmaf(ld(out + base + d), ld(dout + base + d), s);' 'fmaf(ld(out + base + d), ld(out + base + d), s);'
mutant plain attention_wgmma.cu "off-by-one key mask (key Nk scored)" \
  '>= Nk) sacc[i] = -INFINITY;' '> Nk) sacc[i] = -INFINITY;'
mutant plain attention_wgmma.cu "O rows rescaled by the wrong row's factor" \
  'o[i] *= corr[(i >> 1) & 1];' 'o[i] *= corr[i & 1];'
mutant plain attention_wgmma.cu "V stage released before its P V GEMM retires" \
  $'        softmax(j, corr);\n        wgmma_wait<0>();                        // P_{j-1} V_{j-1} has retired: O and pa are ours again\n        wgmma_pin(o);\n        release(&vempty[(j - 1) % ATW_STAGES]);' \
  $'        release(&vempty[(j - 1) % ATW_STAGES]);\n        softmax(j, corr);\n        wgmma_wait<0>();\n        wgmma_pin(o);'
mutant plain attention_wgmma.cu "softmax reads S before its wgmma retires (wait<2> for wait<1>)" \
  'wgmma_wait<1>();                        // S_j has retired' 'wgmma_wait<2>();                        // S_j has retired'
mutant plain attention_wgmma.cu "P's A-fragment registers rotated" \
  'pa[kc][r] = att_pack(' 'pa[kc][(r + 1) & 3] = att_pack('
mutant plain attention_wgmma.cu "V descriptor's leading byte offset of a 64-key tile (hd 128's second column block)" \
  'WG_SWIZZLE_128B, KEYS * 128, 1024)' 'WG_SWIZZLE_128B, 64 * 128, 1024)'
mutant plain attention_wgmma.cu "K tile's column blocks at q's stride (hd 256)" \
  'wgmma_desc(ks + (kk / 4) * KEYS * 128' 'wgmma_desc(ks + (kk / 4) * ATW_BQ * 128'
mutant plain attention_wgmma.cu "producer waits for the wrong phase of a free stage" \
  'const unsigned parity = ((j / ATW_STAGES) & 1) ^ 1;' 'const unsigned parity = (j / ATW_STAGES) & 1;'
mutant plain attention_wgmma.cu "row sum not reduced over the quad's four lanes" \
  'const float sum = att_quad_sum(l[hh]);' 'const float sum = l[hh];'
mutant plain attention_wgmma.cu "ping-pong: group 1's opening arrival dropped" \
  'if (c == 1) named_bar_arrive(ATW_BAR_CONSUMER0, 2 * 128);' 'if (c == 2) named_bar_arrive(ATW_BAR_CONSUMER0, 2 * 128);'
mutant plain attention_wgmma.cu "no wgmma_fence before the P V GEMM (O rescaled, P packed in registers just before)" \
  $'        wgmma_pin(o);\n        wgmma_fence();' '        wgmma_pin(o);'
mutant plain attention_wgmma.cu "consumer setmaxnreg beyond the register file (24 x 128 + 248 x 256 > 168 x 384)" \
  '#define ATW_CONSUMER_REGS 240' '#define ATW_CONSUMER_REGS 248'
mutant plain attention_wgmma_bwd.cu "P^T, dS^T stores not fenced for wgmma (fence.proxy.async dropped)" \
  'fence_proxy_async();   // generic-proxy stores -> visible to wgmma' '// generic-proxy stores -> visible to wgmma'
mutant plain attention_wgmma_bwd.cu "exits before the last dq reduce-add has read its shared tile" \
  '    if (lt == 0) tma_store_wait();   // the shared dq tile must outlive its last reduce' '    // the shared dq tile must outlive its last reduce'
mutant plain attention_wgmma.cu "out's columns past hd stored (the padded head dim's zeros)" \
  'if (8 * jj < hd) *reinterpret_cast' 'if (8 * jj < HDP) *reinterpret_cast'
mutant plain attention_wgmma.cu "out's head offset at the padded head dim" \
  'ldo + (long long)h * hd;' 'ldo + (long long)h * HDP;'
mutant plain attention_wgmma_bwd.cu "dout's boxes at the padded head dim's column (h * HDP)" \
  'mapO, h * hd + 64 * j,' 'mapO, h * HDP + 64 * j,'
mutant plain attention_wgmma_bwd.cu "dk, dv rows at the padded head dim's stride" \
  '+ 16 * w + g + 8 * hh) * hd;' '+ 16 * w + g + 8 * hh) * HDP;'
mutant plain attention_wgmma_bwd.cu "head dims 72 .. 120 run at the 64 instantiation (only hd 128 padded to 128)" \
  'if (ATT_WGMMA_HD_PAD(hd) == 128) awb_bwd<128>' 'if (hd == 128) awb_bwd<128>'
mutant plain attention_bf16.cu "P v read V without .trans (ldmatrix of V^T's rows)" \
  'ldmatrix_x4_trans(r, s + att_sw<HD>(kk + (j8 & 1) * 8 + r8, n0 + (j8 >> 1) * 8));' \
  'ldmatrix_x4(r, s + att_sw<HD>(kk + (j8 & 1) * 8 + r8, n0 + (j8 >> 1) * 8));'
mutant plain attention_bf16.cu "forward: running output not rescaled when the row max grows" \
  '            for (int e = 0; e < 4; e++) o[j][e] *= corr[e >> 1];' '            for (int e = 0; e < 4; e++) o[j][e] *= 1.0f;'
mutant plain attention_bf16.cu "forward: off-by-one key mask (key Nk scored as a zero row)" \
  's[j][e] = key < Nk ? s[j][e] * sl2 : -INFINITY;' 's[j][e] = key <= Nk ? s[j][e] * sl2 : -INFINITY;'
mutant plain attention_bf16.cu "dq: delta of row g used for row g+8 too" \
  's[j][e] = p * (dp[j][e] - D[e >> 1]);   // dS, in place of S' 's[j][e] = p * (dp[j][e] - D[0]);   // dS, in place of S'
mutant plain attention_bf16.cu "dkdv: lse and delta read from the stage being prefetched" \
  'const float* Ls = LD + (qt & 1) * 2 * QRY;' 'const float* Ls = LD + ((qt + 1) & 1) * 2 * QRY;'
mutant plain attention_bf16.cu "P fragment registers 1 and 2 swapped (rows g+8 for keys 2t+8)" \
  'att_pack(p[2 * kc][2], p[2 * kc][3]),
                         att_pack(p[2 * kc + 1][0], p[2 * kc + 1][1]),' \
  'att_pack(p[2 * kc + 1][0], p[2 * kc + 1][1]),
                         att_pack(p[2 * kc][2], p[2 * kc][3]),'
mutant plain attention_bf16.cu "forward: row sum not reduced over the quad's four lanes" \
  'const float sum = att_quad_sum(l[hh]);' 'const float sum = l[hh];'
mutant plain attention_bf16.cu "forward: missing cp.async wait before a key tile is read" \
  '        __pipeline_wait_prior(1);     // tile kt (and q) landed' '        // tile kt (and q) landed'
mutant plain attention_bf16.cu "forward: dropped barrier before a stage is reloaded" \
  '        __syncthreads();   // stage kt & 1 is reloaded' '        // stage kt & 1 is reloaded'
mutant plain attention_bf16.cu "forward: lse left in the log2 domain" \
  '= (m[hh] + log2f(sum)) / ATT_LOG2E;' '= m[hh] + log2f(sum);'
mutant plain attention_bf16.cu "dkdv: dout tile read with the head-major stride (hd for ldo)" \
  'att_load<HD, QRY>(s + QRY * HD, ob, ldo, qt * QRY, Nq, tid);' 'att_load<HD, QRY>(s + QRY * HD, ob, HD, qt * QRY, Nq, tid);'
mutant plain attention_bf16.cu "dkdv: hd 256 column split ignored (both halves write columns 0-127)" \
  'k0 = (blk % tiles) * ATT_BKV, c0 = split * DC;' 'k0 = (blk % tiles) * ATT_BKV, c0 = 0;'
mutant plain attention_bf16.cu "dkdv: dk missing the softmax scale" \
  'att_acc2(dk + base + j * 8 + 2 * t4, ak[j][2 * hh] * scale, ak[j][2 * hh + 1] * scale);' \
  'att_acc2(dk + base + j * 8 + 2 * t4, ak[j][2 * hh], ak[j][2 * hh + 1]);'
mutant plain attention_common.cuh "gradients overwritten instead of accumulated" \
  'const float a = __bfloat162float(dst[0]) + lo, b = __bfloat162float(dst[1]) + hi;' 'const float a = lo, b = hi;'
mutant plain attention_common.cuh "gradient pair stored swapped (hi in the low half)" \
  '*reinterpret_cast<unsigned*>(dst) = att_pack(a, b);' '*reinterpret_cast<unsigned*>(dst) = att_pack(b, a);'
mutant plain attention_bf16.cu "swizzle: odd rows shifted by one element (16-byte chunks misaligned)" \
  'return r * HD + (((c >> 3) ^ (r & 7)) << 3) + (c & 7);' 'return r * HD + (((c >> 3) ^ (r & 7)) << 3) + (c & 7) + (r & 1);'
mutant asan attention_bf16.cu "tile loads copy the row past the matrix (out-of-bounds read)" \
  'if (r0 + r < ext) __pipeline_memcpy_async(' 'if (r0 + r <= ext) __pipeline_memcpy_async('
mutant plain common.cuh "block_sum: dropped barrier before warp 0 reads the partial sums" \
  $'    if (lane == 0) part[warp] = v;\n    __syncthreads();' '    if (lane == 0) part[warp] = v;'
mutant plain norm.cu "norm_bwd_params: wrong grid stride over row chunks" \
  'r < R; r += (long long)gridDim.y * 8) {' 'r < R; r += (long long)gridDim.y) {'
mutant plain norm.cu "qknorm_fwd: token-major offset for the head-major outputs" \
  'const long long hm = ((b * H + h) * N + n) * hd;                   // head-major' \
  'const long long hm = ((b * N + n) * H + h) * hd;                   // head-major'
mutant plain misc.cu "col_sum: dropped barrier before the column partials are combined" \
  $'    ps[threadIdx.y][threadIdx.x] = s;\n    __syncthreads();' '    ps[threadIdx.y][threadIdx.x] = s;'
mutant plain misc.cu "AdamW: bias corrections swapped" \
  '(mi / bc1) / (sqrtf(vi / bc2)' '(mi / bc2) / (sqrtf(vi / bc1)'
mutant plain misc.cu "adamw_multi: the vector path writes the gradient into the compute copy" \
  'if (copy) store4_copy(copy + i, p4);' 'if (copy) store4_copy(copy + i, g4);'
mutant plain misc.cu "adamw_multi: the unaligned head is skipped" \
  'for (int i = threadIdx.x; i < head; i += blockDim.x)' 'for (int i = threadIdx.x; i < 0; i += blockDim.x)'
mutant plain misc.cu "sum_squares: tree reduction starts at 64 (half the block ignored)" \
  'for (int o = 128; o > 0; o >>= 1)' 'for (int o = 64; o > 0; o >>= 1)'
mutant asan misc.cu "gemm_epilogue: grid-stride bound over ldc (out-of-bounds write)" \
  'GRID_STRIDE(i, (long long)M * N) {' 'GRID_STRIDE(i, (long long)M * ldc) {'
mutant plain elem.cuh "bf16 store truncates instead of rounding to nearest even" \
  '{ *p = __ushort_as_bfloat16(bf16_bits_rne(v)); }' '{ *p = __ushort_as_bfloat16((unsigned short)(__float_as_uint(v) >> 16)); }'
mutant plain misc.cu "ew_loop: the last element after the whole vectors dropped" \
  'GRID_STRIDE(i, n - whole * V) f(whole * V + i, 1);' 'GRID_STRIDE(i, n - whole * V - 1) f(whole * V + i, 1);'
mutant plain misc.cu "gelu_bwd_cols: dbias summed from the rounded dpre" \
  $'            st(dpre + t * ldp + j, g);\n            s += g;' $'            st(dpre + t * ldp + j, g);\n            s += ld(dpre + t * ldp + j);'
mutant plain misc.cu "col_sum into bf16: dst overwritten instead of accumulated" \
  'else st(dst + w, ::ld(dst + w) + s);' 'else st(dst + w, s);'
mutant plain norm.cu "norm_fwd: vector rows taken when W is not a multiple of the vector (row tails skipped)" \
  'const bool vec = W % VEC<T> == 0 && aligned16(x, out)' 'const bool vec = aligned16(x, out)'


# A mutant applies when FROM occurs exactly once in its file (the same test run_mutant makes).
applies() { FROM=$2 perl -0777 -ne '$n = () = /\Q$ENV{FROM}\E/g; exit($n == 1 ? 0 : 3)' "$kernels/src/main/cuda/$1"; }
if [ "$check" = 1 ]; then
  stale=0
  for spec in "${specs[@]}"; do
    IFS=$'\x1f' read -r -d '' flavour file desc from to < <(printf '%s\0' "$spec") || true
    applies "$file" "$from" || { echo "[emu] mutant does not apply (its code moved or changed): $file: $desc"; stale=$((stale + 1)); }
  done
  [ "$stale" = 0 ] && echo "[emu] mutate.sh: all ${#specs[@]} mutants apply"
  exit $(( stale > 0 ))
fi

# The unmutated objects come from the normal build; a mutant rebuilds only the objects that
# include the kernel sources (registry.o, test_emulator.o).
make -s -C "$here" B="$B" -j"$(nproc)" plain asan   # plain runs the lib objects
for ((k = 0; k < jobs; k++)); do
  d=$tmp/slot$k
  mkdir -p "$d/src" "$d/build/gen"
  cp -rp "$kernels/src/main" "$kernels/src/emu" "$d/src/"
  for f in lib plain asan; do
    mkdir -p "$d/build/$f/tests"
    cp -p "$B/$f/"*.o "$d/build/$f/" 2>/dev/null || true
    cp -p "$B/$f/tests/"*.o "$d/build/$f/tests/" 2>/dev/null || true
  done
  cp -p "$B/gen/kernel_sources.inc" "$d/build/gen/"
done

# Runs mutant $1 in slot $2; writes its verdict to $tmp/result.$1.
run_mutant() {
  local i=$1 d=$tmp/slot$2
  local flavour file desc from to
  IFS=$'\x1f' read -r -d '' flavour file desc from to < <(printf '%s\0' "${specs[$i]}") || true
  local src=$d/src/main/cuda objs=$flavour verdict="NOT caught" how=""
  [ "$flavour" = plain ] && objs=lib
  cp -p "$src/$file" "$d/$file.orig"
  if ! FROM=$from TO=$to perl -0777 -i -pe '$n = s/\Q$ENV{FROM}\E/$ENV{TO}/g; END { exit($n == 1 ? 0 : 3) }' "$src/$file"; then
    echo "DOES-NOT-APPLY $file: $desc" > "$tmp/result.$i"
    cp -p "$d/$file.orig" "$src/$file"
    return
  fi
  rm -f "$d/build/$objs/registry.o"
  [ "$file" = common.cuh ] && rm -f "$d/build/$flavour/tests/test_emulator.o"   # includes it
  if ! make -s -C "$d/src/emu" B="$d/build" "$flavour" > "$d/make.log" 2>&1; then
    verdict="caught"; how="does not compile"
  else
    local schedules="0 1 2"
    [ "$flavour" = asan ] && schedules=0
    for s in $schedules; do
      if ! timeout 120 "$d/build/$flavour/emu_tests" "$s" $tests > "$d/run.log" 2>&1; then
        verdict="caught"
        how=$(grep -m1 -E "FAIL:|ERROR: AddressSanitizer|runtime error" "$d/run.log" | sed 's/^ *//' | cut -c1-150 || true)
        [ -z "$how" ] && how="exit status (crash or hang)"
        how="schedule $s, $flavour: $how"
        break
      fi
    done
  fi
  cp -p "$d/$file.orig" "$src/$file"
  # (an if, not `[ -n "$how" ] && echo`: that list's status 1 ended the slot under set -e after a
  # mutant that was not caught, and the slot's later mutants never ran)
  { printf '%2d %-10s %-13s %s\n' "$((i + 1))" "$verdict" "$file" "$desc"; if [ -n "$how" ]; then echo "      $how"; fi; } > "$tmp/result.$i"
}

for ((k = 0; k < jobs; k++)); do
  ( for ((i = k; i < ${#specs[@]}; i += jobs)); do run_mutant "$i" "$k"; done ) &
done
wait

total=${#specs[@]} caught=0
for ((i = 0; i < total; i++)); do
  if grep -q '^DOES-NOT-APPLY' "$tmp/result.$i"; then
    echo "mutant $((i + 1)) does not apply (the source changed; update mutate.sh): $(cut -d' ' -f2- "$tmp/result.$i")" >&2
    exit 1
  fi
  cat "$tmp/result.$i"
  grep -q '^ *[0-9]* caught' "$tmp/result.$i" && caught=$((caught + 1))
done
secs=$(( $(date +%s) - start ))
summary="caught $caught of $total mutants"
echo "[emu] $summary in $secs s (seed $seed)"
mkdir -p "$(dirname "$out")"
{
  echo "# Mutation check of the emulated-device C++ suite (kernels/src/emu/mutate.sh)"
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cores, g++ $(g++ -dumpfullversion), seed $seed"
  echo "# plain mutants: plain -O2 build under schedules 0, 1, 2; asan mutants: ASan+UBSan build, schedule 0"
  if [ -n "$only" ]; then echo "# only $only's mutants${tests:+, on the tests named *$tests*}"; fi
  echo "# $summary in $secs s"
  for ((i = 0; i < total; i++)); do cat "$tmp/result.$i"; done
} > "$out"
echo "[emu] wrote $out"
[ "$caught" -eq "$total" ]
