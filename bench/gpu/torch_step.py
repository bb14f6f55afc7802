"""PyTorch peer of our training step: the same ViT-22B-recipe architecture (parallel block with
fused in-projection [MLP | q | k | v], QK RMS-norm, no q/k/v bias, one out-projection with bias,
RMS norms, no class token, MAP head, sigmoid cross-entropy), bf16 autocast with fp32 master
weights, fused AdamW. Times whole steps (forward, backward, optimizer) with CUDA events and reports
images/s and MFU against 989 TFLOP/s (H100/H200 dense bf16), in two modes in one process: eager,
and torch.compile on each block (regional compilation: the blocks carry >99% of the FLOPs, and one
compiled graph serves every block of the same shapes, so the compile costs one block's time; the
patch embedding and head stay eager).

FLOPs are counted as the engine counts them (vit22b.model.ModelStats is the one definition):
training = 3 x forward, forward = 2 x matmul MACs including attention (PaLM accounting). This file
prints its formula; --java-json STEP.json checks it against the engine's train_flops_per_image for
the rows of the same name (StepBench writes them) and exits 1 on a mismatch. --flops-only prints
the counts without importing torch (a CI test compares them with ModelStats).

Usage: python3 torch_step.py [--out FILE.json] [--steps 20] [--batch-22b 8] [--modes eager,compile]
                             [--models NAME[:MODE+MODE],...] [--java-json STEP.json] [--flops-only]
  (models: vit-22b-width-3blocks, vit-b16-224, in the order given; e.g. vit-b16-224:eager)
"""
import argparse, json, math, sys

PEAK = 989e12

# name: (width, depth, mlp, heads, patch, image, classes, batch): StepBench's models and batches.
MODELS = {"vit-22b-width-3blocks": (6144, 3, 24576, 48, 14, 224, 1000, 8),
          "vit-b16-224": (768, 12, 3072, 12, 16, 224, 1000, 64)}

FORMULA = ("train/image = 3 x 2 x [n*3*p^2*d (patch) + depth*(n*d*(m+3d) + 2*n^2*d + n*(d+m)*d) (blocks) "
           "+ d^2 + 2*n*d^2 + 2*n*d + d^2 + 2*d*m (MAP head) + d*classes], n = (image/p)^2")


def train_flops_per_image(d, depth, m, h, patch, image, classes):
    n = (image // patch) ** 2
    block = n * (d * (m + 3 * d) + (d + m) * d) + 2 * n * n * d      # projections + QK^T and PV
    head = d * d + n * 2 * d * d + 2 * n * d + d * d + 2 * d * m     # q, kv, attention, out, MLP
    macs = n * 3 * patch * patch * d + depth * block + head + d * classes
    return 3 * 2 * macs


def check_flops(java_json):
    """Our count against the engine's for every row name both know; returns the names that disagree."""
    doc = json.load(open(java_json))
    rows = doc["rows"] if isinstance(doc, dict) else doc
    bad, seen = [], set()
    for r in rows:
        name = r.get("name")
        if name not in MODELS or "train_flops_per_image" not in r or name in seen:
            continue
        seen.add(name)
        ours = train_flops_per_image(*MODELS[name][:7])
        ok = ours == r["train_flops_per_image"]
        print(f"flops {name}: python {ours} engine {r['train_flops_per_image']}: {'agree' if ok else 'DISAGREE'}", flush=True)
        if not ok:
            bad.append(name)
    if not seen:
        print(f"flops: {java_json} has no row to check against (no train_flops_per_image)", flush=True)
    return bad


def torch_model():
    """The model's classes, defined once torch is imported (--flops-only runs without torch)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class RMSNorm(nn.Module):
        def __init__(self, d, eps=1e-6):
            super().__init__()
            self.w, self.eps = nn.Parameter(torch.ones(d)), eps

        def forward(self, x):
            return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps).to(x.dtype) * self.w

    class Block(nn.Module):
        def __init__(self, d, m, h):
            super().__init__()
            self.d, self.m, self.h = d, m, h
            self.norm = RMSNorm(d)
            self.in_proj = nn.Linear(d, m + 3 * d, bias=False)
            self.mlp_bias = nn.Parameter(torch.zeros(m))
            self.q_norm, self.k_norm = RMSNorm(d // h), RMSNorm(d // h)
            self.out_proj = nn.Linear(d + m, d)

        def forward(self, x):
            b, n, _ = x.shape
            hm, q, k, v = self.in_proj(self.norm(x)).split([self.m, self.d, self.d, self.d], dim=-1)
            g = F.gelu(hm + self.mlp_bias, approximate="tanh")
            heads = lambda t: t.view(b, n, self.h, -1).transpose(1, 2)
            a = F.scaled_dot_product_attention(self.q_norm(heads(q)), self.k_norm(heads(k)), heads(v))
            a = a.transpose(1, 2).reshape(b, n, self.d)
            return x + self.out_proj(torch.cat([a, g], dim=-1))

    class MAPHead(nn.Module):
        def __init__(self, d, m, h):
            super().__init__()
            self.probe = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.attn = nn.MultiheadAttention(d, h, batch_first=True)
            self.norm = nn.LayerNorm(d, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(d, m), nn.GELU(approximate="tanh"), nn.Linear(m, d))

        def forward(self, x):
            y, _ = self.attn(self.probe.expand(x.shape[0], -1, -1), x, x, need_weights=False)
            return (y + self.mlp(self.norm(y)))[:, 0]

    class ViT(nn.Module):
        def __init__(self, d, depth, m, h, patch, image, classes):
            super().__init__()
            n = (image // patch) ** 2
            self.patch = nn.Conv2d(3, d, patch, patch)
            self.pos = nn.Parameter(torch.randn(1, n, d) / math.sqrt(d))
            self.blocks = nn.ModuleList(Block(d, m, h) for _ in range(depth))
            self.norm = RMSNorm(d)
            self.head = MAPHead(d, m, h)
            self.cls = nn.Linear(d, classes) if classes else None

        def forward(self, img):
            x = self.patch(img).flatten(2).transpose(1, 2) + self.pos
            for blk in self.blocks:
                x = blk(x)
            y = self.head(self.norm(x))
            return self.cls(y) if self.cls is not None else y

    return ViT


def bench(ViT, name, d, depth, m, h, patch, image, classes, batch, steps, mode):
    import torch.nn.functional as F
    torch.manual_seed(0)
    with torch.device("cuda"):   # parameters initialised on the GPU: no host init of 1.4e9 weights
        model = ViT(d, depth, m, h, patch, image, classes)
    if mode == "compile":
        for blk in model.blocks:
            blk.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=True)
    outdim = classes if classes else d
    img = torch.randn(batch, 3, image, image, device="cuda")
    tgt = (torch.rand(batch, outdim, device="cuda") < 0.01).float()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.binary_cross_entropy_with_logits(model(img).float(), tgt, reduction="sum") / batch
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0 = torch.cuda.Event(enable_timing=True)
    t0.record()
    step()   # the first step compiles (mode compile): timed apart
    e.record(); e.synchronize()
    first_ms = t0.elapsed_time(e)
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        s.record(); step(); e.record(); e.synchronize()
        times.append(s.elapsed_time(e))
    ms = sorted(times)[len(times) // 2]
    flops = train_flops_per_image(d, depth, m, h, patch, image, classes)
    r = dict(name=name, engine=f"pytorch-bf16-{mode}", mode=mode, batch=batch, step_ms=ms, images_per_s=batch / (ms / 1e3),
             mfu=flops * batch / (ms / 1e3) / PEAK, train_flops_per_image=flops, first_step_ms=first_ms,
             params=sum(p.numel() for p in model.parameters()), device=torch.cuda.get_device_name(), torch=torch.__version__)
    print(json.dumps(r), flush=True)
    del model, opt
    torch.cuda.empty_cache()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-22b", type=int, default=MODELS["vit-22b-width-3blocks"][7])
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--java-json")
    ap.add_argument("--flops-only", action="store_true")
    a = ap.parse_args()
    plan = []   # (model, [modes]): "name" takes --modes, "name:eager+compile" its own
    for item in a.models.split(","):
        x, _, own = item.partition(":")
        modes = own.split("+") if own else a.modes.split(",")
        if x not in MODELS:
            ap.error(f"unknown model {x!r}; known: {', '.join(MODELS)}")
        for mode in modes:
            if mode not in ("eager", "compile"):
                ap.error(f"unknown mode {mode!r}; known: eager, compile")
        plan.append((x, modes))
    models = [x for x, _ in plan]
    if a.steps <= 0 or a.batch_22b <= 0:
        ap.error("--steps and --batch-22b must be positive")
    print("FLOP formula (the engine's, vit22b.model.ModelStats):", FORMULA, flush=True)
    for x in models:
        print(f"flops {x}: train_flops_per_image {train_flops_per_image(*MODELS[x][:7])}", flush=True)
    bad = check_flops(a.java_json) if a.java_json else []
    if a.flops_only:
        return 1 if bad else 0
    global torch
    import torch
    torch.backends.cuda.matmul.allow_tf32 = True
    ViT = torch_model()
    rows = []
    for x, modes in plan:   # model outer: a run cut short still has every mode of the first model
        d, depth, m, h, p, img, cls, batch = MODELS[x]
        if x == "vit-22b-width-3blocks":
            batch = a.batch_22b
        for mode in modes:
            rows.append(bench(ViT, x, d, depth, m, h, p, img, cls, batch, a.steps, mode))
            if a.out:   # after every row: a run stopped at its limit keeps what it measured
                json.dump(rows, open(a.out, "w"), indent=1)
    if bad:
        print("torch_step: FLOP counts disagree with the engine's for", ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
