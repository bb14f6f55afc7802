#!/usr/bin/env bash
# The one GPU check: a single run of at most 7 minutes (RUN_ALL_BUDGET_S, default 420) on the GPU
# host, from the project root, after bench/gpu/prepare.sh packed .device/ here. No Maven there.
# Usage: bench/gpu/run-all.sh [--dry-run]
# Stages, most valuable verdict first (bench/gpu/NOTES.md gives the planned seconds and why):
#   env        GPU, driver, java, CUDA 13 libraries (cuBLASLt, cudart, NCCL), `vit doctor`
#   op-tests   every CUDA op vs the CPU backend and the whole training step vs the CPU
#              (CudaOpsTest, CudaStepTest; each also against the emulator where it is built)
#   gpu-tests  the remaining GPU tests: bf16 GEMM, cuBLASLt path, diagnostics, NCCL (one JVM per GPU)
#   mesh-gpu   the sharded step with every rank on this one GPU (DeviceMesh): equals the unsharded
#              GPU step (DeviceShardedStepTest); traced mesh-train with and without --no-overlap,
#              exposed communication per rank (bench/gpu/mesh-one-gpu.sh)
#   memcheck   compute-sanitizer memcheck on the op tests (--report-api-errors no: one test
#              fails a function lookup on purpose)
#   gemm       fused in-/out-projection GEMMs vs cuBLASLt, speed and agreement (GemmBench)
#   gemm-bf16  the tensor-core bf16 GEMMs (gemm_bf16_mma; gemm_bf16_wgmma on a Hopper): each form
#              vs float64 on the device's output, then NT / NN / TN with their fused epilogues on
#              ViT-L, ViT-e, ViT-22B shapes beside cuBLASLt bf16, TFLOP/s and ratio (MmaGemmBench)
#   attn-bf16  the tensor-core flash attention (attention_bf16.cu): forward and backward vs
#              float64 on the device (hd 64/128/256), then TFLOP/s at hd 128 (N 256, 1024) and
#              ViT-L's N 197 x hd 64 beside PyTorch's SDPA bf16 in the same process (flash_attn.py)
#   step       whole training steps, ours (StepBench: fp32 both GEMM paths, bf16) beside PyTorch (torch_step.py)
#   racecheck  compute-sanitizer racecheck on the op tests, only if time is left
# Each stage has a time budget and appends its verdict to $OUT/summary.txt as soon as it ends,
# and the logs so far go to $OUT/logs.tgz: a run stopped at its limit still leaves what ran.
# $OUT (default bench/results/tmp) gets at most 8 files: summary.txt, logs.tgz, gemm.json,
# gemm_bf16.json, flash_attn.json, step.json, torch_step.json, mesh_trace.json. Without nvidia-smi (or with --dry-run) every stage reports
# "skipped: no GPU" and the summary is still written.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/tmp}
BUDGET=${RUN_ALL_BUDGET_S:-420}
START=$(date +%s)
dry=""   # why the stages are skipped, if they are
case "${1:-}" in
  --dry-run) dry="no GPU (--dry-run)" ;;
  "") command -v nvidia-smi >/dev/null 2>&1 || dry="no GPU (nvidia-smi not found)" ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
LOGS=$(mktemp -d /tmp/run-all.XXXXXX)
rm -f "$SUMMARY" "$OUT/logs.tgz" "$OUT/gemm.json" "$OUT/gemm_bf16.json" "$OUT/flash_attn.json" "$OUT/step.json" "$OUT/torch_step.json" "$OUT/mesh_trace.json"
failed=0

say() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
pack_logs() { tar -C "$LOGS" -czf "$OUT/logs.tgz" . 2>/dev/null; }

# stage NAME BUDGET_S|rest [--if-left MIN_S] COMMAND...: runs COMMAND for at most min(BUDGET,
# time left - 5 s) (rest: all the time left), only if at least MIN_S are left; logs to
# $LOGS/NAME.log, appends one verdict line and the log's key lines to the summary.
stage() {
  local name=$1 budget=$2 min=1; shift 2
  [ "$1" = --if-left ] && { min=$2; shift 2; }
  local shown="${budget}s"; [ "$budget" = rest ] && shown="what is left, at least ${min}s"
  if [ -n "$dry" ]; then say "$(printf '%-10s skipped: %s; budget %s' "$name" "$dry" "$shown")"; return; fi
  local t; t=$(( $(left) - 5 )); [ "$budget" != rest ] && [ "$t" -gt "$budget" ] && t=$budget
  if [ "$t" -lt "$min" ]; then
    say "$(printf '%-10s skipped: not enough time, %ss left of the %ss run (needs %ss)' "$name" "$(left)" "$BUDGET" "$((min + 5))")"
    return
  fi
  echo "=== $name (up to ${t}s)"
  echo "$*" > "$LOGS/$name.log"
  local s; s=$(date +%s)
  timeout -k 5 "$t" "$@" >> "$LOGS/$name.log" 2>&1
  local rc=$? took=$(( $(date +%s) - s )) verdict
  case $rc in
    0) verdict=pass ;;
    124|137) verdict="TIMEOUT after ${t}s"; failed=1 ;;
    *) verdict="FAIL (exit $rc)"; failed=1 ;;
  esac
  say "$(printf '%-10s %-22s %4ss of %4ss' "$name" "$verdict" "$took" "$t")"
  grep -hE "tests (successful|failed|aborted|skipped)|containers failed|ERROR SUMMARY|MISMATCH|disagree|^\[kernels\]|Exception|^GPU tests skipped|^mesh .*exposed" \
    "$LOGS/$name.log" | head -n 12 | sed 's/^/    /' | tee -a "$SUMMARY"
  pack_logs
}

# The CUDA 13 libraries without walking whole trees: known toolkit folders, the linker cache,
# and the folders of python3's nvidia wheels (where PyTorch's CUDA lives on the GPU host).
find_cuda_libs() {
  local cands=() d lib found
  for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64 /usr/local/lib; do
    [ -d "$d" ] && cands+=("$d")
  done
  while read -r d; do cands+=("$d"); done < <(ldconfig -p 2>/dev/null \
    | awk '/lib(cublasLt\.so\.13|cudart\.so\.13|nccl\.so\.2)/ {print $NF}' | xargs -r -n1 dirname | sort -u)
  while read -r d; do cands+=("$d"); done < <(python3 -c '
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
for r in roots:
    for pat in ("*/lib/lib%s.so*", "*/*/lib/lib%s.so*"):
        for n in ("cublasLt", "cudart", "nccl"):
            for f in glob.glob(os.path.join(r, pat % n)): print(os.path.dirname(f))
' 2>/dev/null | sort -u)
  for lib in libcublasLt.so.13 libcudart.so.13 libnccl.so.2; do
    found=""
    for d in "${cands[@]}"; do
      if compgen -G "$d/$lib*" >/dev/null; then found=$d; break; fi
    done
    if [ -n "$found" ]; then
      case ":${LD_LIBRARY_PATH:-}:" in *":$found:"*) ;; *) export LD_LIBRARY_PATH=$found${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ;; esac
      say "    $lib: $found"
    else
      say "    $lib: NOT FOUND (known folders, ldconfig -p, python3 nvidia wheels)"
    fi
  done
}

# Java 25 and the packed jars: from PATH and $CP if set, else from .device/ (prepare.sh).
setup_java() {
  if ! command -v java >/dev/null 2>&1 || ! java -version 2>&1 | grep -q '"2[5-9]'; then
    [ -f .device/jre.tar.xz ] || { say "    no Java 25 and no .device/jre.tar.xz: run bench/gpu/prepare.sh here first"; return 1; }
    [ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .device/jre.tar.xz
    export PATH=/tmp/jre/bin:$PATH
  fi
  if [ -z "${CP:-}" ]; then
    compgen -G ".device/jars/*.jar" >/dev/null || { say "    no .device/jars: run bench/gpu/prepare.sh here first"; return 1; }
    CP=$(ls .device/jars/*.jar | tr '\n' ':')
  fi
  JAVA=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx16g -cp "$CP")
}

# compute-sanitizer from PATH or the toolkit's known folders.
sanitizer() {
  local c
  for c in "$(command -v compute-sanitizer 2>/dev/null)" /usr/local/cuda/bin/compute-sanitizer \
           /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
  done
}

say "================ run-all $(date -u +%FT%TZ), budget ${BUDGET}s ================"
if [ -n "$dry" ]; then
  say "device: none, $dry"
  JAVA=(java); SAN=compute-sanitizer
else
  say "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
  setup_java || { failed=1; dry="no Java runtime or jars"; }   # then every stage says so
  find_cuda_libs
  [ -z "$dry" ] && say "    java: $(java -version 2>&1 | head -n 1)"
  SAN=$(sanitizer)
fi

stage env        15 "${JAVA[@]}" vit22b.cli.Main doctor
stage op-tests   70 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain CudaOpsTest CudaStepTest
stage gpu-tests  50 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain '!CudaOpsTest' '!CudaStepTest'
stage mesh-gpu   40 bash bench/gpu/mesh-one-gpu.sh "$OUT" "${JAVA[@]}"
if [ -n "$dry" ] || [ -n "$SAN" ]; then
  stage memcheck 50 "$SAN" --tool memcheck --report-api-errors no --error-exitcode 9 \
        "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain CudaOpsTest
else
  say "memcheck   skipped: compute-sanitizer not found (PATH, /usr/local/cuda)"
fi
stage gemm       45 "${JAVA[@]}" vit22b.backend.cuda.GemmBench 8192 "$OUT/gemm.json"
stage gemm-bf16  40 "${JAVA[@]}" vit22b.backend.cuda.MmaGemmBench "$OUT/gemm_bf16.json"
stage attn-bf16  25 env PYTHONUNBUFFERED=1 python3 bench/gpu/flash_attn.py --out "$OUT/flash_attn.json"
stage step-bench 50 "${JAVA[@]}" vit22b.backend.cuda.StepBench "$OUT/step.json"
stage torch-step 35 env PYTHONUNBUFFERED=1 python3 bench/gpu/torch_step.py --steps 10 --out "$OUT/torch_step.json"
if [ -n "$dry" ] || [ -n "$SAN" ]; then
  stage racecheck rest --if-left 45 "$SAN" --tool racecheck --report-api-errors no --error-exitcode 9 \
        "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain CudaOpsTest
fi

[ -z "$dry" ] && python3 - "$OUT" <<'PY' | tee -a "$SUMMARY"
import json, os, sys
out = sys.argv[1]
try:
    rows = json.load(open(os.path.join(out, "gemm.json")))
    print(f"{'model':8} {'op':8} {'M':>6} {'N':>6} {'K':>6} {'ours f32':>9} {'Lt f32':>7} {'ratio':>6} "
          f"{'ours bf16':>9} {'Lt bf16':>8} {'ratio':>6} {'err f32':>8} {'err bf16':>8}  TFLOP/s")
    for r in rows:
        print(f"{r['model']:8} {r['op']:8} {r['M']:6} {r['N']:6} {r['K']:6} {r['ours_tflops']:9.1f} "
              f"{r['cublaslt_f32_tflops']:7.1f} {r['ratio_vs_f32']:6.2f} {r['ours_bf16_tflops']:9.1f} "
              f"{r['cublaslt_bf16_tflops']:8.1f} {r['ratio_vs_bf16']:6.2f} {r['max_rel_err_f32']:8.1e} {r['max_rel_err_bf16']:8.1e}")
except Exception as e:
    print("gemm.json: no results:", e)
try:
    rows = json.load(open(os.path.join(out, "gemm_bf16.json")))
    print(f"{'model':8} {'form':4} {'what':34} {'M':>6} {'N':>6} {'K':>6} {'mma':>7} {'Lt bf16':>8} {'ratio':>6} {'err':>8} "
          f"{'wgmma':>7} {'ratio':>6} {'err':>8}  TFLOP/s (gemm_bf16_mma, gemm_bf16_wgmma on Hopper)")
    for r in rows:
        wg = (f" {r['wgmma_tflops']:7.1f} {r['wgmma_ratio']:6.2f} {r['wgmma_max_rel_err']:8.1e}" if 'wgmma_tflops' in r
              else "       -      -        -")
        print(f"{r['model']:8} {r['form']:4} {r['what']:34} {r['M']:6} {r['N']:6} {r['K']:6} {r['ours_tflops']:7.1f} "
              f"{r['cublaslt_bf16_tflops']:8.1f} {r['ratio']:6.2f} {r['max_rel_err']:8.1e}" + wg)
except Exception as e:
    print("gemm_bf16.json: no results:", e)
try:
    rows = json.load(open(os.path.join(out, "flash_attn.json")))
    print(f"{'shape':18} {'B':>3} {'H':>3} {'N':>5} {'hd':>4} {'ours fwd':>9} {'sdpa fwd':>9} {'ratio':>6} {'ours bwd':>9} {'sdpa bwd':>9} {'ratio':>6}  TFLOP/s (attention_bf16)")
    for r in rows:
        print(f"{r['name']:18} {r['B']:3} {r['H']:3} {r['N']:5} {r['hd']:4} {r['ours_fwd_tflops']:9.1f} {r['sdpa_fwd_tflops']:9.1f} "
              f"{r['fwd_ratio']:6.2f} {r['ours_bwd_tflops']:9.1f} {r['sdpa_bwd_tflops']:9.1f} {r['bwd_ratio']:6.2f}")
except Exception as e:
    print("flash_attn.json: no results:", e)
for f in ("step.json", "torch_step.json"):
    try:
        for r in json.load(open(os.path.join(out, f))):
            print(f"{r['engine']:22} {r['name']:22} batch {r['batch']:4} {r['images_per_s']:9.1f} img/s  "
                  f"MFU {100*r['mfu']:5.1f}%  ({r['step_ms']:.1f} ms/step)")
    except Exception as e:
        print(f"{f}: no results:", e)
PY
say "total $(( $(date +%s) - START ))s of ${BUDGET}s; $([ $failed = 0 ] && echo 'no stage failed' || echo 'SOME STAGE FAILED')"
pack_logs
rm -rf "$LOGS"
[ -n "$dry" ] && [ $failed = 0 ] && exit 0
exit $failed
