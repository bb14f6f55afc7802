#!/usr/bin/env bash
# The emulated device's C++ test suite (tests/): every kernel against naive float64 references,
# and the emulator's own checks, built three ways (plain -O2; ASan+UBSan; TSan with one TSan fiber
# per CUDA thread) and each build run under every schedule (0 in order, 1 reversed, 2 warp 0 far
# ahead). Run by the kernels module's Maven build (test phase); fails on any failure. The
# sanitizer builds are test executables only, never loaded into the JVM.
# Usage: run-tests.sh [BUILD_DIR]   (EMU_SEED=n reproduces a run's random inputs;
#        EMU_FLAVOURS="plain asan tsan" and EMU_SCHEDULES="0 1 2" narrow it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=${1:-$here/../../target/emu}
flavours=${EMU_FLAVOURS:-plain asan tsan}
schedules=${EMU_SCHEDULES:-0 1 2}
if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  echo "[emu] g++ or make not found: the emulated-device tests are NOT run." >&2
  exit 0
fi
start=$(date +%s)
make -s -C "$here" B="$B" -j"$(nproc)" $flavours
echo "[emu] built $flavours in $(( $(date +%s) - start )) s"
seed=${EMU_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
export EMU_SEED=$seed
# Sanitizer options: any report fails the run; no leak check of the fiber stacks kept for reuse.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:report_signal_unsafe=0}
failed=0
"$here/mutate.sh" --check || failed=1   # every mutant of the mutation check still applies
if [[ " $flavours " == *" plain "* ]]; then
  make -s -C "$here" B="$B" lib
  "$B/lib/abi_check" "$B/lib/libvit22b_emu.so" | sed 's/^/[emu] /' || failed=1
fi
for f in $flavours; do
  for s in $schedules; do
    t0=$(date +%s.%N)
    log=$B/$f/schedule-$s.log
    if "$B/$f/emu_tests" "$s" > "$log" 2>&1; then
      printf '[emu] %-5s schedule %s: %s (%s s)\n' "$f" "$s" "$(tail -1 "$log" | sed 's/^emu_tests: schedule [0-9]: //')" \
        "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    else
      echo "[emu] $f schedule $s FAILED (seed $seed): $log"
      grep -E "FAIL|ERROR|WARNING|runtime error|emu_tests:" "$log" | head -40
      failed=1
    fi
  done
done
# TSan must see the races the race_* tests make on purpose (a missing __syncthreads / __syncwarp /
# mbar_wait before reading a TMA destination, in the CTA or in a peer of its cluster).
if [[ " $flavours " == *" tsan "* ]]; then
  for r in race_missing_syncthreads race_missing_syncwarp race_tma_without_mbar_wait race_cluster_multicast_without_mbar_wait; do
    log=$B/tsan/$r.log
    if "$B/tsan/emu_tests" 0 "$r" > "$log" 2>&1; then
      echo "[emu] tsan $r: ThreadSanitizer reported NO race: $log"; failed=1
    elif grep -q "WARNING: ThreadSanitizer: data race" "$log"; then
      echo "[emu] tsan  $r: the race is reported, as it must be"
    else
      echo "[emu] tsan $r failed without a race report: $log"; tail -20 "$log"; failed=1
    fi
  done
fi
echo "[emu] seed $seed; total $(( $(date +%s) - start )) s"
exit $failed
