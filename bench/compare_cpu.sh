#!/usr/bin/env bash
# Our CPU training step against PyTorch's, same model (vit-s-fmnist) and batch (64), back to
# back on this machine; writes bench/results/cpu_step_vs_pytorch.json.
# Needs Debian's python3-torch with libopenblas0-pthread. STEPS, WARMUP and PYTHON override.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=${STEPS:-10}
warmup=${WARMUP:-3}
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import torch' 2>/dev/null || {
  echo "compare_cpu.sh: $py cannot import torch; apt-get install python3-torch libopenblas0-pthread (or set PYTHON)" >&2
  exit 1
}
out=bench/results/cpu_step_vs_pytorch.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ours_cmd="./vit bench --backend cpu --model vit-s-fmnist --batch 64 --steps $steps --warmup $warmup --json"
torch_cmd="$py bench/pytorch/train_step_cpu.py --batch 64 --steps $steps --warmup $warmup"
./vit --version >/dev/null   # build first, so that no build overlaps the timing
load_before=$(cut -d' ' -f1-3 /proc/loadavg)   # other work on the machine skews both runs
echo "compare_cpu.sh: $ours_cmd" >&2
$ours_cmd >"$tmp/ours.json"
echo "compare_cpu.sh: $torch_cmd" >&2
$torch_cmd >"$tmp/torch.json"

mkdir -p bench/results
"$py" - "$tmp/ours.json" "$tmp/torch.json" "$ours_cmd" "$torch_cmd" "$out" "$load_before" <<'PY'
import datetime, json, os, sys
ours_path, torch_path, ours_cmd, torch_cmd, out, load_before = sys.argv[1:]
ours, peer = json.load(open(ours_path)), json.load(open(torch_path))
if ours["model"] != peer["model"] or ours["batch"] != peer["batch"]:
    sys.exit(f"compare_cpu.sh: runs differ: {ours['model']}/{ours['batch']} vs {peer['model']}/{peer['batch']}")
result = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {**ours["machine"], "load_average_before": [float(x) for x in load_before.split()],
                "load_average_after": list(os.getloadavg())},
    "model": ours["model"], "batch": ours["batch"],
    "commands": {"vit": ours_cmd, "pytorch": torch_cmd},
    "vit": {k: ours[k] for k in ("images_per_second", "tokens_per_second", "mean_step_seconds",
                                 "achieved_gflops", "fraction_of_sgemm", "step_seconds")},
    "pytorch": {k: peer[k] for k in ("images_per_second", "tokens_per_second", "mean_step_seconds",
                                     "step_seconds", "torch_version", "threads", "blas_libraries")},
    "sgemm": ours["sgemm"],
    "speedup_vs_pytorch": ours["images_per_second"] / peer["images_per_second"],
    "pytorch_achieved_gflops": ours["training_flops_per_image"] * peer["images_per_second"] / 1e9,
}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps({k: result[k] for k in ("date", "model", "batch", "speedup_vs_pytorch")}
                 | {"vit_images_per_second": result["vit"]["images_per_second"],
                    "pytorch_images_per_second": result["pytorch"]["images_per_second"],
                    "vit_fraction_of_sgemm": result["vit"]["fraction_of_sgemm"]}, indent=2))
PY
echo "compare_cpu.sh: wrote $out" >&2
