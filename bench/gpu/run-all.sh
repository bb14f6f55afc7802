#!/usr/bin/env bash
# The one GPU check: a single run of at most 7.5 minutes (RUN_ALL_BUDGET_S, default 450) on the GPU
# host, from the project root, after bench/gpu/prepare.sh packed .device/ here. No Maven there.
# Usage: bench/gpu/run-all.sh [--dry-run] [--only STAGE,STAGE...]
# The default stages are issue 11's figures, correctness first (bench/gpu/NOTES.md gives the
# planned seconds and why):
#   env          GPU, driver, java, CUDA 13 libraries (cuBLASLt, cudart, NCCL), `vit doctor`
#   op-tests     every CUDA op vs the CPU backend and the whole training step vs the CPU
#                (CudaOpsTest, CudaStepTest; each also against the emulator where it is built)
#   gpu-tests    the remaining GPU tests of the CUDA backend (bf16 GEMMs incl. gemm_bf16_wgmma on a
#                Hopper, attention, element-wise, cuBLASLt path, diagnostics) and NCCL's (one JVM
#                per GPU, 1x1 on a one-GPU host); the emulator-only tests are left to CI
#   gemm-bf16    our bf16 GEMMs (gemm_bf16_mma; gemm_bf16_wgmma on a Hopper): each form vs float64,
#                then NT / NN / TN with their fused epilogues on ViT-L, ViT-e, ViT-22B shapes beside
#                cuBLASLt bf16 plain and cuBLASLt followed by the same epilogue as separate kernels
#                (MmaGemmBench)
#   attn-bf16    our bf16 attention forward and backward vs float64, then TFLOP/s at hd 128 (N 256,
#                1024) and ViT-L's N 197 x hd 64 beside PyTorch's SDPA bf16 (flash_attn.py)
#   step-bench   bf16 training steps of ViT-B/16 and the 3-block ViT-22B-width stack (batch
#                STEP_BATCH_22B, default 32) at MFU, and the 22B-width step's breakdown: device
#                time per kind of op and the step with each kind removed (StepBench --breakdown)
#   torch-step   the same two models in PyTorch bf16 in one process: the 22B-width stack eager and
#                torch.compile, ViT-B/16 eager; its FLOP count checked against step.json's
#                (torch_step.py --java-json)
#   forward-22b  a ViT-22B-size forward (inference-only, weights made on the device) at batch
#                FORWARD_BATCH (default 32): images/s and MFU (`vit bench --forward-only`)
#   ncu          Nsight Compute's speed-of-light section on the 22B GEMM and the attention kernels
#                (NcuProbe), only if at least 40 s are left
# --only runs the named stages instead (comma-separated, in the order above); besides the
# default ones it knows the earlier GPU checks: mesh-gpu (bench/gpu/mesh-one-gpu.sh), memcheck,
# gemm (fp32 GemmBench), racecheck; their JSON goes into logs.tgz.
# Each stage has a time budget and appends its verdict to $OUT/summary.txt as soon as it ends,
# and the logs so far go to $OUT/logs.tgz: a run stopped at its limit still leaves what ran.
# $OUT (default bench/results/tmp) gets at most 8 files: summary.txt, logs.tgz, gemm_bf16.json,
# flash_attn.json, step.json (our steps and the breakdown), torch_step.json, forward.json, ncu.csv.
# Without nvidia-smi (or with --dry-run) every stage reports "skipped" with its budget and
# command, the planned seconds are added up against the budget, and the summary is still written.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/tmp}
BUDGET=${RUN_ALL_BUDGET_S:-450}
B22=${STEP_BATCH_22B:-32}
FWD_BATCH=${FORWARD_BATCH:-32}
START=$(date +%s)
DEFAULT_STAGES=env,op-tests,gpu-tests,gemm-bf16,attn-bf16,step-bench,torch-step,forward-22b,ncu
KNOWN_STAGES=$DEFAULT_STAGES,mesh-gpu,memcheck,gemm,racecheck
OUT_FILES="summary.txt logs.tgz gemm_bf16.json flash_attn.json step.json torch_step.json forward.json ncu.csv"
usage() { echo "run-all.sh: $1; usage: bench/gpu/run-all.sh [--dry-run] [--only STAGE,STAGE...] (stages: $KNOWN_STAGES)" >&2; exit 2; }
dry=""   # why the stages are skipped, if they are
only=$DEFAULT_STAGES
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry="no GPU (--dry-run)" ;;
    --only) [ $# -ge 2 ] || usage "--only needs a comma-separated list of stages"; only=$2; shift ;;
    *) usage "unknown argument '$1'" ;;
  esac
  shift
done
for st in ${only//,/ }; do
  case ",$KNOWN_STAGES," in *",$st,"*) ;; *) usage "unknown stage '$st'" ;; esac
done
[ -z "$dry" ] && ! command -v nvidia-smi >/dev/null 2>&1 && dry="no GPU (nvidia-smi not found)"
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
LOGS=$(mktemp -d /tmp/run-all.XXXXXX)
for f in $OUT_FILES; do rm -f "$OUT/$f"; done
failed=0
planned=0   # seconds the selected stages with a fixed budget plan

say() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
pack_logs() { tar -C "$LOGS" -czf "$OUT/logs.tgz" . 2>/dev/null; }

# stage NAME BUDGET_S|rest [--if-left MIN_S] COMMAND...: runs COMMAND for at most min(BUDGET,
# time left - 5 s) (rest: all the time left), only if at least MIN_S are left; logs to
# $LOGS/NAME.log, appends one verdict line and the log's key lines to the summary.
stage() {
  local name=$1 budget=$2 min=1; shift 2
  [ "$1" = --if-left ] && { min=$2; shift 2; }
  case ",$only," in *",$name,"*) ;; *) return ;; esac
  local shown="${budget}s"; [ "$budget" = rest ] && shown="what is left, at least ${min}s"
  [ "$budget" != rest ] && planned=$(( planned + budget ))
  if [ -n "$dry" ]; then
    say "$(printf '%-11s skipped: %s; budget %s' "$name" "$dry" "$shown")"
    say "            would run: $*"
    return
  fi
  local t; t=$(( $(left) - 5 )); [ "$budget" != rest ] && [ "$t" -gt "$budget" ] && t=$budget
  if [ "$t" -lt "$min" ]; then
    say "$(printf '%-11s skipped: not enough time, %ss left of the %ss run (needs %ss)' "$name" "$(left)" "$BUDGET" "$((min + 5))")"
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
  say "$(printf '%-11s %-22s %4ss of %4ss' "$name" "$verdict" "$took" "$t")"
  grep -hE "tests (successful|failed|aborted|skipped)|containers failed|ERROR SUMMARY|MISMATCH|disagree|DISAGREE|^\[kernels\]|Exception|^GPU tests skipped|^mesh .*exposed|^flops |not a Hopper" \
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

# Nsight Compute from PATH or the toolkit's known folders.
nsight() {
  local c
  for c in "$(command -v ncu 2>/dev/null)" /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
  done
}

say "================ run-all $(date -u +%FT%TZ), budget ${BUDGET}s ================"
if [ -n "$dry" ]; then
  say "device: none, $dry"
  JAVA=(java); SAN=compute-sanitizer; NCU=ncu
else
  say "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
  setup_java || { failed=1; dry="no Java runtime or jars"; }   # then every stage says so
  find_cuda_libs
  [ -z "$dry" ] && say "    java: $(java -version 2>&1 | head -n 1)"
  SAN=$(sanitizer); NCU=$(nsight)
fi
say "stages: ${only//,/ }"

stage env          15 "${JAVA[@]}" vit22b.cli.Main doctor
stage op-tests     70 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain CudaOpsTest CudaStepTest
stage gpu-tests    45 "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain '!CudaOpsTest' '!CudaStepTest' '!StepBreakdownEmuTest' \
      '!InferenceViTEmuTest'
stage gemm-bf16    45 "${JAVA[@]}" vit22b.backend.cuda.MmaGemmBench "$OUT/gemm_bf16.json"
stage attn-bf16    30 env PYTHONUNBUFFERED=1 python3 bench/gpu/flash_attn.py --out "$OUT/flash_attn.json"
stage step-bench   50 "${JAVA[@]}" vit22b.backend.cuda.StepBench --precision bf16 --batch "$B22" --breakdown "$OUT/step.json"
stage torch-step   90 env PYTHONUNBUFFERED=1 python3 bench/gpu/torch_step.py --steps 10 --batch-22b "$B22" \
      --models vit-22b-width-3blocks:eager+compile,vit-b16-224:eager --java-json "$OUT/step.json" --out "$OUT/torch_step.json"
stage forward-22b  45 bash -c 'out=$1; shift; "$@" > "$out"' forward "$OUT/forward.json" \
      "${JAVA[@]}" vit22b.cli.Main bench --model vit-22b --forward-only --backend cuda --batch "$FWD_BATCH" --steps 3 --warmup 1 --json
if [ -n "$dry" ] || [ -n "$NCU" ]; then
  stage ncu rest --if-left 40 bash bench/gpu/ncu-probe.sh "$NCU" "$LOGS" "$OUT/ncu.csv" "${JAVA[@]}" vit22b.backend.cuda.NcuProbe
else
  case ",$only," in *,ncu,*) say "ncu         skipped: Nsight Compute (ncu) not found (PATH, /usr/local/cuda, /opt/nvidia)" ;; esac
fi
# The earlier GPU checks, with --only: their JSON goes into logs.tgz (the 8 files above are the default run's).
stage mesh-gpu     40 bash bench/gpu/mesh-one-gpu.sh "$LOGS" "${JAVA[@]}"
stage gemm         45 "${JAVA[@]}" vit22b.backend.cuda.GemmBench 8192 "$LOGS/gemm.json"
if [ -n "$dry" ] || [ -n "$SAN" ]; then
  stage memcheck   50 "$SAN" --tool memcheck --report-api-errors no --error-exitcode 9 \
        "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain CudaOpsTest
  stage racecheck rest --if-left 45 "$SAN" --tool racecheck --report-api-errors no --error-exitcode 9 \
        "${JAVA[@]}" vit22b.backend.cuda.GpuTestMain CudaOpsTest
else
  case ",$only," in *,memcheck,*|*,racecheck,*) say "sanitizer   skipped: compute-sanitizer not found (PATH, /usr/local/cuda)" ;; esac
fi

[ -z "$dry" ] && python3 - "$OUT" <<'PY' | tee -a "$SUMMARY"
import csv, json, os, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception as e:
        print(f"{name}: no results: {e}")
def num(r, k, w=7, p=1):
    return f"{r[k]:{w}.{p}f}" if k in r else " " * (w - 1) + "-"
rows = load("gemm_bf16.json")
if rows:
    print("GEMMs, TFLOP/s (Lt+epi: cuBLASLt bf16 then the epilogue as its own kernel; ratio: ours over Lt+epi)")
    print(f"{'model':8} {'form':4} {'M':>6} {'N':>6} {'K':>6} {'mma':>7} {'wgmma':>7} {'Lt':>7} {'Lt+epi':>7} {'mma/':>6} {'wgmma/':>6}")
    for r in rows:
        print(f"{r['model']:8} {r['form']:4} {r['M']:6} {r['N']:6} {r['K']:6} {r['ours_tflops']:7.1f} {num(r, 'wgmma_tflops')} "
              f"{r['cublaslt_bf16_tflops']:7.1f} {num(r, 'cublaslt_epi_tflops')} {num(r, 'ratio_vs_lt_epi', 6, 2)} "
              f"{num(r, 'wgmma_ratio_vs_lt_epi', 6, 2)}")
        if 'wgmma_qk_fused_tflops' in r:
            print(f"{'':8} in-proj fwd with GELU + QK-norm fused {r['wgmma_qk_fused_tflops']:7.1f} vs wgmma + 2 epilogue kernels "
                  f"{r['wgmma_two_step_tflops']:7.1f}")
rows = load("flash_attn.json")
if rows:
    print(f"{'attention':18} {'B':>3} {'H':>3} {'N':>5} {'hd':>4} {'ours fwd':>9} {'sdpa fwd':>9} {'ratio':>6} {'ours bwd':>9} {'sdpa bwd':>9} {'ratio':>6}  TFLOP/s")
    for r in rows:
        print(f"{r['name']:18} {r['B']:3} {r['H']:3} {r['N']:5} {r['hd']:4} {r['ours_fwd_tflops']:9.1f} {r['sdpa_fwd_tflops']:9.1f} "
              f"{r['fwd_ratio']:6.2f} {r['ours_bwd_tflops']:9.1f} {r['sdpa_bwd_tflops']:9.1f} {r['bwd_ratio']:6.2f}")
step = load("step.json") or {}
for r in step.get("rows", []) + (load("torch_step.json") or []):
    print(f"{r['engine']:24} {r['name']:22} batch {r['batch']:4} {r['images_per_s']:9.1f} img/s  "
          f"MFU {100*r['mfu']:5.1f}%  ({r['step_ms']:.1f} ms/step)")
for b in step.get("breakdown", []):
    print(f"step breakdown {b['name']} batch {b['batch']}: profiled {b['profiled_step_ms']:.2f} ms, plain {b['plain_step_ms']:.2f} ms")
    for c in b["categories"]:
        print(f"  {c['category']:10} {c['ops']:5} ops {c['ms']:9.3f} ms {c['percent']:6.1f}%  {num(c, 'tflops', 7)} TFLOP/s")
    for r in b["removals"]:
        print(f"  {r['without']:22} {r['step_ms']:9.3f} ms, saves {r['saved_ms']:8.3f} ms")
f = load("forward.json")
if f:
    print("forward " + ", ".join(f"{k} {v}" for k, v in f.items() if not isinstance(v, (dict, list))))
try:
    with open(os.path.join(out, "ncu.csv")) as fh:
        lines = [l for l in fh if l.startswith('"')]
    keep = ("Duration", "Compute (SM) Throughput", "Memory Throughput", "DRAM Throughput")
    for r in csv.DictReader(lines):
        if r.get("Metric Name") in keep:
            print(f"ncu {r.get('Kernel Name', '?')[:40]:40} {r['Metric Name']:26} {r.get('Metric Value', '?'):>10} {r.get('Metric Unit', '')}")
except Exception as e:
    print("ncu.csv: no results:", e)
PY
if [ -n "$dry" ]; then
  say "planned ${planned}s for the stages with a fixed budget, of ${BUDGET}s"
  [ "$planned" -le "$BUDGET" ] || { say "PLAN OVER BUDGET: the stages plan ${planned}s, more than ${BUDGET}s"; failed=1; }
fi
say "total $(( $(date +%s) - START ))s of ${BUDGET}s; $([ $failed = 0 ] && echo 'no stage failed' || echo 'SOME STAGE FAILED')"
pack_logs
rm -rf "$LOGS"
n=$(find "$OUT" -maxdepth 1 -type f | wc -l)
[ "$n" -le 8 ] || { echo "run-all: $n files in $OUT, more than the 8 that come back from the device" | tee -a "$SUMMARY"; failed=1; }
exit $failed
