#!/usr/bin/env bash
# Proof for issue 2: a timm-layout safetensors file written by PyTorch code (vit22b_torch.py, an
# independent implementation of DESIGN.md's model) loads in `vit predict`, whose logits match
# PyTorch's (computed in float64) to 1e-4 relative error, for GELU tanh and exact, RMS and
# LayerNorm, a 1-channel Fashion-MNIST image and a generated RGB image.
# Writes bench/results/predict_vs_pytorch.json. Needs python3 with torch, numpy, PIL
# (Debian: python3-torch python3-pil); PYTHON=... picks the interpreter.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

py=
for c in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null && "$c" -c 'import torch, numpy, PIL' 2>/dev/null; then py=$c; break; fi
done
[ -n "$py" ] || { echo "compare_predict: no python3 with torch, numpy and PIL (apt-get install python3-torch python3-pil)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Inputs: Fashion-MNIST test image 0 (if Debian's dataset-fashion-mnist is installed, else a
# seeded random gray image) and a seeded random 32x32 RGB image.
"$py" - "$work" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
src = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
rng = np.random.default_rng(0)
if os.path.exists(src):
    with gzip.open(src) as f:
        gray = np.frombuffer(f.read(), dtype=np.uint8, offset=16)[:784].reshape(28, 28)
    label = "fashion-mnist t10k image 0"
else:
    gray = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    label = "random 28x28 gray (seed 0)"
Image.fromarray(gray, "L").save(os.path.join(out, "gray28.png"))
Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB").save(os.path.join(out, "rgb32.png"))
open(os.path.join(out, "gray28.txt"), "w").write(label)
PY

# name gelu norm width depth mlp heads patch size channels classes image
cases=(
  "fmnist-tanh-rms   tanh  rms   64 2 256 4 4 28 1 10 gray28.png"
  "fmnist-exact-rms  exact rms   64 2 256 4 4 28 1 10 gray28.png"
  "rgb32-tanh-layer  tanh  layer 96 3 384 6 8 32 3 7  rgb32.png"
  "rgb32-exact-layer exact layer 96 3 384 6 8 32 3 7  rgb32.png"
)
for c in "${cases[@]}"; do
  read -r name gelu norm d l m h p s ch k img <<<"$c"
  echo "compare_predict: $name" >&2
  "$py" bench/pytorch/vit22b_torch.py --weights "$work/$name.safetensors" --image "$work/$img" \
    --logits "$work/$name.torch.json" --gelu "$gelu" --norm "$norm" --width "$d" --depth "$l" --mlp "$m" \
    --heads "$h" --patch "$p" --image-size "$s" --channels "$ch" --classes "$k" --seed 1
  ./vit predict --weights "$work/$name.safetensors" --image "$work/$img" --gelu "$gelu" --norm "$norm" --json \
    > "$work/$name.vit.json"
done

"$py" - "$work" "${cases[@]}" <<'PY'
import datetime, json, os, platform, subprocess, sys
import numpy as np
work, cases = sys.argv[1], [c.split() for c in sys.argv[2:]]
def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":", 1)[1].strip() for l in sh("lscpu").splitlines() if l.startswith("Model name")), platform.processor())
res, worst = [], 0.0
for name, gelu, norm, d, l, m, h, p, s, ch, k, img in cases:
    t = json.load(open(os.path.join(work, name + ".torch.json")))
    v = json.load(open(os.path.join(work, name + ".vit.json")))
    ref, out = np.array(t["logits"]), np.array(v["images"][0]["logits"], dtype=np.float64)
    rel = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
    worst = max(worst, rel)
    res.append({"case": name, "gelu": gelu, "norm": norm, "width": int(d), "depth": int(l), "mlp": int(m),
                "heads": int(h), "patch": int(p), "image_size": int(s), "channels": int(ch), "classes": int(k),
                "image": open(os.path.join(work, "gray28.txt")).read() if img == "gray28.png" else "random 32x32 RGB (seed 0)",
                "params": t["params"], "safetensors_writer": t["writer"], "rel_error": rel,
                "max_abs_diff": float(np.max(np.abs(out - ref))), "logits_torch_f64": t["logits"], "logits_vit": v["images"][0]["logits"],
                "top_vit": v["images"][0]["top"][0]["class"], "top_torch": int(np.argmax(ref))})
    print(f"{name:18s} rel error {rel:.3e}  (top class vit {res[-1]['top_vit']}, torch {res[-1]['top_torch']})")
doc = {"what": "vit predict (Java, CPU backend, float32) vs an independent PyTorch model (float64) on the same timm-layout safetensors file written by PyTorch",
       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "command": "bench/pytorch/compare_predict.sh",
       "machine": {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform()},
       "torch": t["torch"], "java": sh("./vit --version"), "tolerance": 1e-4, "max_rel_error": worst,
       "passed": worst <= 1e-4, "cases": res}
os.makedirs("bench/results", exist_ok=True)
json.dump(doc, open("bench/results/predict_vs_pytorch.json", "w"), indent=2)
print("wrote bench/results/predict_vs_pytorch.json; max relative error", f"{worst:.3e}", "(limit 1e-4)")
sys.exit(0 if worst <= 1e-4 else 1)
PY
