"""PyTorch peer of our training step: the same ViT-22B-recipe architecture (parallel block with
fused in-projection [MLP | q | k | v], QK RMS-norm, no q/k/v bias, one out-projection with bias,
RMS norms, no class token, MAP head, sigmoid cross-entropy), bf16 autocast with fp32 master
weights, AdamW. Times whole steps (forward, backward, optimizer) with CUDA events and reports
images/s and MFU against 989 TFLOP/s (H100/H200 dense bf16), counting FLOPs as the engine does:
training = 3 x forward, forward = 2 x matmul MACs including attention (PaLM accounting).

Usage: python3 torch_step.py [--out FILE.json] [--steps 20]
"""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

PEAK = 989e12


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


def train_flops_per_image(d, depth, m, h, patch, image, classes):
    n = (image // patch) ** 2
    block = n * (d * (m + 3 * d) + (d + m) * d) + 2 * n * n * d      # projections + QK^T and PV
    head = d * d + n * 2 * d * d + 2 * n * d + d * d + 2 * d * m     # q, kv, attention, out, MLP
    macs = n * 3 * patch * patch * d + depth * block + head + d * classes
    return 3 * 2 * macs


def bench(name, d, depth, m, h, patch, image, classes, batch, steps):
    torch.manual_seed(0)
    with torch.device("cuda"):   # parameters initialised on the GPU: no host init of 1.4e9 weights
        model = ViT(d, depth, m, h, patch, image, classes)
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

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); step(); e.record(); e.synchronize()
        times.append(s.elapsed_time(e))
    ms = sorted(times)[len(times) // 2]
    flops = train_flops_per_image(d, depth, m, h, patch, image, classes) * batch
    r = dict(name=name, engine="pytorch-bf16-autocast", batch=batch, step_ms=ms, images_per_s=batch / (ms / 1e3), mfu=flops / (ms / 1e3) / PEAK,
             params=sum(p.numel() for p in model.parameters()), device=torch.cuda.get_device_name(),
             torch=torch.__version__)
    print(json.dumps(r), flush=True)
    del model, opt
    torch.cuda.empty_cache()
    return r


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    # same architectures and batches as our StepBench (vit22b.backend.cuda.StepBench)
    rows = [bench("vit-b16-224", 768, 12, 3072, 12, 16, 224, 1000, 64, a.steps),
            bench("vit-22b-width-3blocks", 6144, 3, 24576, 48, 14, 224, 1000, 8, a.steps)]
    if a.out:
        json.dump(rows, open(a.out, "w"), indent=1)
