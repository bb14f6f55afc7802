#!/usr/bin/env bash
# The one GPU script: run on the GPU host from the project root, after `source .device/env.sh`
# (java on PATH, $CP = the jars packed by bench/gpu/prepare.sh). No Maven needed there.
#   1. environment and `vit doctor`
#   2. the GPU tests (every CUDA op vs the CPU backend, allocator, graph capture, cuBLASLt)
#   3. compute-sanitizer (memcheck, then racecheck) on the GPU tests
#   4. fused in-/out-projection GEMMs vs cuBLASLt (ViT-B, ViT-L, ViT-e, ViT-22B widths)
#   5. whole training steps, ViT-B/16 at 224 and a 3-block ViT-22B-width stack, same batch:
#      ours (fp32: the bf16 step is not written yet) and PyTorch (bf16 autocast)
# Prints a short table last; full logs and JSON go to $OUT (default bench/results/tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/tmp}
mkdir -p "$OUT"
: "${CP:?source .device/env.sh first (it sets CP to the packed jars)}"
JAVA=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx16g -cp "$CP")
status=()
step() { # name, timeout seconds, command...
  local name=$1 t=$2; shift 2
  echo "=== $name" | tee -a "$OUT/run-all.log"
  echo "$*" > "$OUT/$name.log"
  local s=$(date +%s)
  timeout "$t" "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  status+=("$(printf '%-18s rc=%-3s %4ss  %s' "$name" "$rc" "$(( $(date +%s) - s ))" "$OUT/$name.log")")
  return $rc
}

{ nvidia-smi; java -version; nvcc --version; } > "$OUT/env.txt" 2>&1
step doctor 120 "${JAVA[@]}" vit22b.cli.Main doctor
step gpu-tests 600 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain
if command -v compute-sanitizer >/dev/null; then
  step memcheck 900 compute-sanitizer --tool memcheck --error-exitcode 9 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain
  step racecheck 900 compute-sanitizer --tool racecheck --error-exitcode 9 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain
else
  status+=("compute-sanitizer  not on PATH: skipped")
fi
step gemm-bench 600 "${JAVA[@]}" vit22b.backend.cuda.GemmBench 8192 "$OUT/gemm.json"
step step-bench 900 "${JAVA[@]}" vit22b.backend.cuda.StepBench "$OUT/step.json"
PYTHONUNBUFFERED=1 step torch-step 900 python3 bench/gpu/torch_step.py --out "$OUT/torch_step.json"

echo
echo "================ summary ================"
printf '%s\n' "${status[@]}"
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
try:
    rows = json.load(open(os.path.join(out, "gemm.json")))
    print(f"{'model':8} {'op':8} {'M':>6} {'N':>6} {'K':>6} {'ours f32':>9} {'Lt f32':>7} {'ratio':>6} "
          f"{'ours bf16':>9} {'Lt bf16':>8} {'ratio':>6}  TFLOP/s")
    for r in rows:
        print(f"{r['model']:8} {r['op']:8} {r['M']:6} {r['N']:6} {r['K']:6} {r['ours_tflops']:9.1f} "
              f"{r['cublaslt_f32_tflops']:7.1f} {r['ratio_vs_f32']:6.2f} {r['ours_bf16_tflops']:9.1f} "
              f"{r['cublaslt_bf16_tflops']:8.1f} {r['ratio_vs_bf16']:6.2f}")
except Exception as e:
    print("gemm bench: no results:", e)
for f in ("step.json", "torch_step.json"):
    try:
        for r in json.load(open(os.path.join(out, f))):
            print(f"{r['engine']:22} {r['name']:22} batch {r['batch']:4} {r['images_per_s']:9.1f} img/s  "
                  f"MFU {100*r['mfu']:5.1f}%  ({r['step_ms']:.1f} ms/step)")
    except Exception as e:
        print(f"{f}: no results:", e)
PY
