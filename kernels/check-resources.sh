#!/usr/bin/env bash
# Static resource check of every kernel's sm_90a (H100/H200) and sm_80 (A100) images, run by the Maven build
# (exec-maven-plugin, process-classes: after the fatbin and the Java classes are built).
# Fails the build on: spills, a stack frame or local memory (both mean local-memory traffic),
# more than 255 registers, registers x threads per block beyond the 65,536-register file
# (allocated per warp in units of 256), more than 1,024 threads, static shared memory over
# 48 KiB, static + dynamic shared memory over the per-block opt-in limit (227 KiB on sm_90,
# 163 KiB on sm_80), and on any ptxas "Potential Performance Loss" (C7508 setmaxnreg ignored, C7509-C7515
# wgmma.mma_async serialized: the tensor cores wait for each wgmma in turn) or compiler-injected
# warpgroup.arrive / warpgroup.wait (C7517, C7519: accumulators touched while a wgmma is in flight), each
# printed with the kernel it names (or, when it names none, the entry compiled next).
# Threads and dynamic shared memory come from the Java wrappers themselves: LaunchTable calls
# every wrapper of Kernels on a recording launcher at the largest head dim and prints
# "kernel threads dynamic_bytes images"; images "sm_90a" marks a Hopper-only kernel (Kernels.SM90A_ONLY),
# whose sm_80 image is a trap the host never launches: only its sm_90a image is checked. Registers, stack, spills, static shared memory: ptxas -v.
# Without nvcc it says skipped and passes (the fatbin is not built either).
# Usage: check-resources.sh WORK_DIR JAVA_COMMAND...   (JAVA_COMMAND runs vit22b.kernels.LaunchTable)
set -euo pipefail
work=$1; shift
if ! command -v nvcc >/dev/null 2>&1; then
  echo "[kernels] resource check skipped: nvcc not on PATH"; exit 0
fi
src=$(dirname "$0")/src/main/cuda
report=$work/ptxas-sm_90a-sm_80.txt
if [ ! -f "$report" ] || [ -n "$(find "$src" -newer "$report" -type f)" ]; then
  bash "$(dirname "$0")/build-fatbin.sh" --ptxas-report "$report"
fi
shapes=$("$@") || { echo "[kernels] resource check: LaunchTable failed" >&2; exit 1; }
awk -v shapes="$shapes" '
  BEGIN {
    n = split(shapes, lines, "\n")
    for (i = 1; i <= n; i++) if (split(lines[i], f, " ") == 4) { thr[f[1]] = f[2]; dyn[f[1]] = f[3]; wrapped[f[1]] = 1; only90[f[1]] = f[4] == "sm_90a" }
  }
  /Potential Performance Loss|is injected .* by compiler/ {
    msg[++nm] = $0; who[nm] = ""
    if (match($0, /function .[A-Za-z0-9_]+.$/)) who[nm] = substr($0, RSTART + 10, RLENGTH - 11)
    next
  }
  /Compiling entry function .* for .sm_(90a|80)./ {
    match($0, /function .[A-Za-z0-9_]+./); name = substr($0, RSTART + 10, RLENGTH - 11)
    for (i = 1; i <= nm; i++) if (who[i] == "") who[i] = name " (compiled next)"
    match($0, /for .sm_[0-9a]+./); arch = substr($0, RSTART + 5, RLENGTH - 6)
    k = name " " arch; names[++nk] = k; kernel[k] = name; limit[k] = arch == "sm_80" ? 166912 : 232448; next
  }
  k != "" && /bytes stack frame/ { stack[k] = $1; spill[k] = $5 + $9 }
  k != "" && /Used [0-9]+ registers/ {
    match($0, /Used [0-9]+ registers/); regs[k] = substr($0, RSTART + 5, RLENGTH - 15) + 0
    smem[k] = 0; if (match($0, /[0-9]+ bytes smem/)) smem[k] = substr($0, RSTART, RLENGTH - 11) + 0
    lmem[k] = 0; if (match($0, /[0-9]+ bytes lmem/)) lmem[k] = substr($0, RSTART, RLENGTH - 11) + 0
  }
  END {
    printf "[kernels] sm_90a and sm_80 resources (ptxas -v; threads and dynamic shared memory from the Java wrappers)\n"
    printf "%-23s %5s %7s %9s %8s %8s %9s %6s %6s  %s\n", "kernel", "regs", "threads", "reg-file", "smem", "dyn-smem", "smem-sum", "stack", "spill", "verdict"
    bad = 0
    for (i = 1; i <= nk; i++) {
      k = names[i]; why = ""
      if (only90[kernel[k]] && k ~ /sm_80$/) {   # its sm_80 image is a trap the host never launches
        printf "%-23s %5d %7s %9s %8s %8s %9s %6s %6s  %s\n", k, regs[k], "-", "-", smem[k], "-", "-", stack[k], spill[k], "not launched (sm_90a only)"
        seen[kernel[k]] = 1; continue
      }
      if (!(kernel[k] in wrapped)) { why = "no Java wrapper launches it (LaunchTable)"; t = 0; d = 0 }
      else { t = thr[kernel[k]]; d = dyn[kernel[k]] }
      warps = int((t + 31) / 32); perWarp = int((regs[k] * 32 + 255) / 256) * 256; file = warps * perWarp
      if (spill[k] > 0) why = why " spills " spill[k] " bytes;"
      if (stack[k] > 0 || lmem[k] > 0) why = why " local memory (stack " stack[k] ", lmem " lmem[k] ");"
      if (regs[k] > 255) why = why " over 255 registers;"
      if (file > 65536) why = why " registers x threads " file " > 65536;"
      if (t > 1024) why = why " over 1024 threads;"
      if (smem[k] > 49152) why = why " static shared memory over 48 KiB;"
      if (smem[k] + d > limit[k]) why = why " shared memory " smem[k] + d " > " limit[k] " bytes;"
      printf "%-23s %5d %7d %9d %8d %8d %9d %6d %6d  %s\n", k, regs[k], t, file, smem[k], d, smem[k] + d, stack[k], spill[k], why == "" ? "ok" : "FAIL:" why
      if (why != "") bad++
      seen[kernel[k]] = 1
    }
    for (i = 1; i <= nm; i++) {
      sub(/^ptxas (info|warning) *: */, "", msg[i])
      printf "%-23s ptxas: %s  FAIL\n", who[i] == "" ? "?" : who[i], msg[i]; bad++
    }
    for (k in wrapped) if (!(k in seen)) { printf "%-16s wrapper launches a kernel missing from the ptxas images: FAIL\n", k; bad++ }
    if (nk == 0) { print "no sm_90a or sm_80 entry functions in the ptxas report"; bad++ }
    if (bad) { printf "[kernels] resource check FAILED for %d kernel(s) or ptxas message(s)\n", bad; exit 1 }
    printf "[kernels] resource check passed: %d kernel images\n", nk
  }' "$report"
