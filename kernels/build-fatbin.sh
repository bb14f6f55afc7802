#!/usr/bin/env bash
# Compiles src/main/cuda/vit22b.cu (which includes every kernel file) into ONE fatbin:
# machine code for sm_80 (A100) and sm_90a (H100/H200), PTX compute_90 for newer GPUs.
# Run by the Maven build (exec-maven-plugin, generate-resources). Without nvcc it prints why
# the kernels are skipped and exits 0, so the build still succeeds on machines without CUDA.
# Usage: build-fatbin.sh OUTPUT_FATBIN
#        build-fatbin.sh --ptxas-report OUTPUT_TXT   (ptxas -v of the sm_90a and sm_80 images, same
#                                                     flags; read by check-resources.sh)
set -euo pipefail
src=$(dirname "$0")/src/main/cuda
flags=(-O3 -std=c++17)
if [ "${1:-}" = --ptxas-report ]; then
  out=$2
  mkdir -p "$(dirname "$out")"
  cubin=$(mktemp --suffix=.cubin)
  : > "$out"
  for arch in 90a 80; do
    nvcc -cubin "${flags[@]}" -gencode arch=compute_$arch,code=sm_$arch -Xptxas -v -o "$cubin" "$src/vit22b.cu" >> "$out" 2>&1 \
      || { cat "$out" >&2; rm -f "$cubin"; exit 1; }
  done
  rm -f "$cubin"
  exit 0
fi
out=$1
if ! command -v nvcc >/dev/null 2>&1; then
  echo "[kernels] nvcc not found on PATH: CUDA kernels NOT built; the cuda backend will refuse to start."
  echo "[kernels] Install the CUDA 13 toolkit (or build in the Dockerfile's devel stage) to build them."
  rm -f "$out"
  exit 0
fi
mkdir -p "$(dirname "$out")"
# Rebuild only when a source changed.
if [ -f "$out" ] && [ -z "$(find "$src" -newer "$out" -type f)" ]; then
  echo "[kernels] $out is up to date"; exit 0
fi
start=$(date +%s)
nvcc -fatbin "${flags[@]}" --threads 2 \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_90a,code=sm_90a \
  -gencode arch=compute_90,code=compute_90 \
  -o "$out" "$src/vit22b.cu"
echo "[kernels] built $out with $(nvcc --version | grep -o 'release [0-9.]*') in $(( $(date +%s) - start )) s"
