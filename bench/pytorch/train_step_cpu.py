#!/usr/bin/env python3
"""PyTorch CPU peer of `vit bench --backend cpu`: the same ViT-22B-recipe model in plain
PyTorch (parallel block with fused in/out projections, QK RMS-norm, MAP head, sigmoid loss,
AdamW), whole training steps timed after warm-up, one JSON object on stdout.

Default sizes are the preset vit-s-fmnist: D 384, 12 layers, 6 heads, MLP 1536, 28x28x1
images, patch 4 (49 tokens), 10 classes. Written for this project (see DESIGN.md)."""
import argparse
import json
import math
import os
import platform
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-6


def rms_norm(x, scale):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * scale


def attention(q, k, v):
    """softmax(q k^T / sqrt(hd)) v on (B, H, N, hd) tensors."""
    s = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.matmul(s.softmax(-1), v)


class ParallelBlock(nn.Module):
    """y = RMSNorm(x); [h | q | k | v] = y W_in^T; x + [attn | gelu(h + b)] W_out^T + b_out."""

    def __init__(self, d, m, heads):
        super().__init__()
        self.d, self.m, self.heads = d, m, heads
        hd = d // heads
        self.in_norm = nn.Parameter(torch.ones(d))
        self.in_proj = nn.Parameter(torch.empty(m + 3 * d, d))
        self.mlp_bias = nn.Parameter(torch.randn(m) * 1e-6)
        self.q_norm = nn.Parameter(torch.ones(hd))
        self.k_norm = nn.Parameter(torch.ones(hd))
        self.out_proj = nn.Linear(d + m, d)
        for i, rows in enumerate((m, d, d, d)):  # xavier per logical matrix, not the fused one
            start = (0, m, m + d, m + 2 * d)[i]
            nn.init.xavier_uniform_(self.in_proj.data[start:start + rows])
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, b):
        """x: (B*N, D) token rows; linears run as 2D GEMMs (3D inputs take a slower bmm path
        in the backward of torch 1.13)."""
        t, d = x.shape
        n, hd = t // b, d // self.heads
        pre = F.linear(rms_norm(x, self.in_norm), self.in_proj)
        h, q, k, v = pre.split((self.m, d, d, d), dim=-1)
        g = F.gelu(h + self.mlp_bias, approximate="tanh")
        q, k, v = (u.reshape(b, n, self.heads, hd).transpose(1, 2) for u in (q, k, v))
        a = attention(rms_norm(q, self.q_norm), rms_norm(k, self.k_norm), v)
        a = a.transpose(1, 2).reshape(t, d)
        return x + self.out_proj(torch.cat((a, g), dim=-1))


class MapHead(nn.Module):
    """big_vision's MAPHead: a latent attends to the tokens, then LayerNorm + MLP residual."""

    def __init__(self, d, m, heads):
        super().__init__()
        self.heads = heads
        self.latent = nn.Parameter(torch.randn(1, 1, d) / math.sqrt(d))
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d, eps=EPS)
        self.fc1 = nn.Linear(d, m)
        self.fc2 = nn.Linear(m, d)

    def forward(self, x, b):
        """x: (B*N, D) token rows -> (B, D) pooled features."""
        t, d = x.shape
        n, hd = t // b, d // self.heads
        q = self.q(self.latent.reshape(1, d).expand(b, d)).reshape(b, 1, self.heads, hd).transpose(1, 2)
        k, v = self.kv(x).reshape(b, n, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        y = self.proj(attention(q, k, v).transpose(1, 2).reshape(b, d))
        return y + self.fc2(F.gelu(self.fc1(self.norm(y)), approximate="tanh"))


class ViT(nn.Module):
    def __init__(self, d, depth, m, heads, patch, image, channels, classes):
        super().__init__()
        n = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(channels, d, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.randn(1, n, d) / math.sqrt(d))
        self.blocks = nn.ModuleList(ParallelBlock(d, m, heads) for _ in range(depth))
        self.norm = nn.Parameter(torch.ones(d))
        self.attn_pool = MapHead(d, m, heads)
        self.head = nn.Linear(d, classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, images):
        b = images.shape[0]
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        x = x.reshape(-1, x.shape[-1])
        for blk in self.blocks:
            x = blk(x, b)
        return self.head(self.attn_pool(rms_norm(x, self.norm), b))


def blas_library():
    """Which BLAS shared object this process mapped (Debian picks it via alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return sorted(os.path.realpath(p) for p in libs)
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = dict(d=384, depth=12, m=1536, heads=6, patch=4, image=28, channels=1, classes=10)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = ViT(**cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    images = torch.rand(a.batch, cfg["channels"], cfg["image"], cfg["image"]) * 2 - 1
    targets = F.one_hot(torch.randint(cfg["classes"], (a.batch,)), cfg["classes"]).float()

    def step():
        opt.zero_grad(set_to_none=False)
        logits = model(images)
        # Sigmoid cross-entropy summed over classes, mean over the batch.
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / a.batch
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step()
        print(f"warm-up step {i + 1}/{a.warmup}", file=sys.stderr)
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
        print(f"step {i + 1}/{a.steps}: {times[-1]:.3f} s, loss {loss:.4f}", file=sys.stderr)

    total = sum(times)
    tokens = (cfg["image"] // cfg["patch"]) ** 2
    print(json.dumps({
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "blas_libraries": blas_library(),
        "model": "vit-s-fmnist", "config": cfg,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": a.batch, "warmup": a.warmup, "steps": a.steps,
        "step_seconds": times,
        "mean_step_seconds": total / a.steps,
        "images_per_second": a.batch * a.steps / total,
        "tokens_per_second": a.batch * tokens * a.steps / total,
        "final_loss": loss,
    }, indent=2))


if __name__ == "__main__":
    main()
