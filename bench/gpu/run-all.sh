#!/usr/bin/env bash
# The one GPU script: run on the GPU host from the project root, after `source .device/env.sh`
# (java on PATH, $CP = the jars packed by bench/gpu/prepare.sh). No Maven needed there.
# Usage: bench/gpu/run-all.sh [STAGE...]   (default: all stages, in this order)
#   tests     environment, `vit doctor`, the GPU tests (every CUDA op vs the CPU backend,
#             a whole training pass vs the CPU, allocator, graph capture, cuBLASLt, bf16 GEMM,
#             NCCL collectives of the mesh on the GPUs present: needs libnccl.so.2 on LD_LIBRARY_PATH)
#   sanitize  compute-sanitizer memcheck and racecheck on the op-level GPU tests
#   gemm      fused in-/out-projection GEMMs vs cuBLASLt (ViT-B, ViT-L, ViT-e, ViT-22B widths)
#   step      whole training steps, ViT-B/16 at 224 and a 3-block ViT-22B-width stack, same
#             batch: ours (fp32; the bf16 step is not written yet) and PyTorch (bf16 autocast)
# Prints a short table last. $OUT (default bench/results/tmp) receives summary.txt, gemm.json,
# step.json, torch_step.json and logs.tgz (every log): few files, as the device tool returns
# at most 8. All stages take about 10-20 minutes; on a device with a 10-minute limit per call
# run `tests gemm step` and `sanitize` as two calls.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/tmp}
LOGS=$OUT/logs
mkdir -p "$LOGS"
: "${CP:?source .device/env.sh first (it sets CP to the packed jars)}"
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(tests sanitize gemm step)
JAVA=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx16g -cp "$CP")
status=()
step() { # name, timeout seconds, command...
  local name=$1 t=$2; shift 2
  echo "=== $name" | tee -a "$LOGS/run-all.log"
  echo "$*" > "$LOGS/$name.log"
  local s=$(date +%s)
  timeout "$t" "$@" >> "$LOGS/$name.log" 2>&1
  local rc=$?
  tail -n 20 "$LOGS/$name.log"
  status+=("$(printf '%-12s rc=%-3s %4ss' "$name" "$rc" "$(( $(date +%s) - s ))")")
}

for st in "${stages[@]}"; do
  case $st in
    tests)
      { nvidia-smi; java -version; command -v nvcc && nvcc --version; } > "$LOGS/env.txt" 2>&1
      step doctor 120 "${JAVA[@]}" vit22b.cli.Main doctor
      step gpu-tests 480 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain ;;
    sanitize)
      if command -v compute-sanitizer >/dev/null; then
        step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 9 "${JAVA[@]}" \
             vit22b.backend.cuda.GpuTestMain CudaOpsTest Bf16GemmTest
        step racecheck 280 compute-sanitizer --tool racecheck --error-exitcode 9 "${JAVA[@]}" \
             vit22b.backend.cuda.GpuTestMain CudaOpsTest Bf16GemmTest
      else
        status+=("sanitize     compute-sanitizer not on PATH: skipped")
      fi ;;
    gemm) step gemm-bench 400 "${JAVA[@]}" vit22b.backend.cuda.GemmBench 8192 "$OUT/gemm.json" ;;
    step)
      step step-bench 400 "${JAVA[@]}" vit22b.backend.cuda.StepBench "$OUT/step.json"
      PYTHONUNBUFFERED=1 step torch-step 400 python3 bench/gpu/torch_step.py --out "$OUT/torch_step.json" ;;
    *) echo "unknown stage '$st'; stages: tests sanitize gemm step" >&2; exit 2 ;;
  esac
done

{
echo "================ summary ($(date -u +%FT%TZ), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)) ================"
printf '%s\n' "${status[@]}"
grep -hE "tests (successful|failed|aborted)|containers aborted|ERROR SUMMARY" "$LOGS"/gpu-tests.log "$LOGS"/memcheck.log "$LOGS"/racecheck.log 2>/dev/null
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
    print("gemm.json: no results:", e)
for f in ("step.json", "torch_step.json"):
    try:
        for r in json.load(open(os.path.join(out, f))):
            print(f"{r['engine']:22} {r['name']:22} batch {r['batch']:4} {r['images_per_s']:9.1f} img/s  "
                  f"MFU {100*r['mfu']:5.1f}%  ({r['step_ms']:.1f} ms/step)")
    except Exception as e:
        print(f"{f}: no results:", e)
PY
} | tee "$OUT/summary.txt"
tar -C "$OUT" -czf "$OUT/logs.tgz" logs && rm -rf "$LOGS"
