#!/usr/bin/env bash
# Builds libvit22b_emu.so, the emulated CUDA device (src/emu, see src/emu/README.md): the kernels
# of src/main/cuda compiled by g++ for the host behind the C ABI of EMU_ABI.md. Run by the Maven
# build (exec-maven-plugin, generate-resources), like build-fatbin.sh; make rebuilds only what a
# changed source affects (objects in target/emu). Without g++ it says why and exits 0: the
# emulated backend then refuses to start with that reason.
# Usage: build-emu.sh OUTPUT_SO
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  echo "[emu] g++ or make not found on PATH: the emulated device library is NOT built; the cuda-emu backend will refuse to start."
  rm -f "$out"
  exit 0
fi
start=$(date +%s)
make -s -C "$here/src/emu" B="$here/target/emu" lib
mkdir -p "$(dirname "$out")"
if cmp -s "$here/target/emu/lib/libvit22b_emu.so" "$out"; then
  echo "[emu] $out is up to date"
else
  cp "$here/target/emu/lib/libvit22b_emu.so" "$out"
  echo "[emu] built $out in $(( $(date +%s) - start )) s"
fi
