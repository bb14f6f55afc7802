#!/usr/bin/env bash
# run-all.sh's ncu stage: Nsight Compute's speed-of-light section (duration, SM and memory
# throughput as % of peak) of the launches NcuProbe makes: the ViT-22B in-projection GEMM with its
# GELU epilogue (gemm_bf16_wgmma on a Hopper) and bf16 attention forward and backward at hd 128,
# N 1024. Clocks as the card has them (--clock-control none: METHOD.md says to leave them alone).
# The report stays in LOGS (into logs.tgz); its details page goes to CSV as CSV.
# Usage: bench/gpu/ncu-probe.sh NCU LOGS CSV JAVA_COMMAND... vit22b.backend.cuda.NcuProbe
set -euo pipefail
ncu=$1 logs=$2 csv=$3
shift 3
"$ncu" --clock-control none --target-processes all -k 'regex:^(gemm_bf16|attn_)' --launch-count 12 \
  --section SpeedOfLight -f -o "$logs/ncu" "$@"
"$ncu" --import "$logs/ncu.ncu-rep" --csv --page details > "$csv"
