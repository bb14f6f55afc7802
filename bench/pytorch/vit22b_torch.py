#!/usr/bin/env python3
"""An independent PyTorch implementation of DESIGN.md's ViT-22B model, used to check `vit predict`.

Plain torch.nn modules whose state_dict keys are DESIGN.md's timm names. The script builds a
model with random weights (non-zero classifier), writes them as a safetensors file WITHOUT the
engine's metadata (a timm-layout file), runs one image through the model in float64 (from the
float32 weights that were written) and writes the logits as JSON.

Usage: vit22b_torch.py --weights OUT.safetensors --image IMG.png --logits OUT.json
                       [--gelu tanh|exact] [--norm rms|layer] [--width D --depth L --mlp M
                        --heads H --patch P --image-size S --channels C --classes K --seed N]
The image must already be S x S, grayscale (mode L) for C = 1 or RGB for C = 3.
"""
import argparse
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

EPS = 1e-6


class ScaleNorm(nn.Module):
    """Scale-only norm over the last axis: RMS (no centering) or centered LayerNorm without bias."""

    def __init__(self, dim, kind):
        super().__init__()
        self.kind = kind
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        if self.kind == "rms":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight
        return F.layer_norm(x, (x.shape[-1],), self.weight, None, EPS)


def attention(q, k, v):
    """softmax(q k^T / sqrt(hd)) v on (B, H, N, hd); written out (torch 1.13 has no sdpa)."""
    s = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    return s.softmax(-1) @ v


class PatchEmbed(nn.Module):
    def __init__(self, channels, width, patch):
        super().__init__()
        self.proj = nn.Conv2d(channels, width, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)   # tokens row-major over the grid


class ParallelScalingBlock(nn.Module):
    """x + out_proj([attn(q, k, v) | gelu(h + mlp_bias)]) with [h | q | k | v] = in_proj(norm(x))."""

    def __init__(self, d, m, heads, norm, gelu):
        super().__init__()
        self.d, self.m, self.heads, self.gelu = d, m, heads, gelu
        self.in_norm = ScaleNorm(d, norm)
        self.in_proj = nn.Linear(d, m + 3 * d, bias=False)
        self.mlp_bias = nn.Parameter(torch.zeros(m))
        self.q_norm = ScaleNorm(d // heads, norm)
        self.k_norm = ScaleNorm(d // heads, norm)
        self.out_proj = nn.Linear(d + m, d)

    def forward(self, x):
        b, n, d = x.shape
        hd = d // self.heads
        h, q, k, v = torch.split(self.in_proj(self.in_norm(x)), [self.m, d, d, d], dim=-1)
        g = F.gelu(h + self.mlp_bias, approximate=self.gelu)
        q = self.q_norm(q.reshape(b, n, self.heads, hd)).transpose(1, 2)
        k = self.k_norm(k.reshape(b, n, self.heads, hd)).transpose(1, 2)
        v = v.reshape(b, n, self.heads, hd).transpose(1, 2)
        a = attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        return x + self.out_proj(torch.cat([a, g], dim=-1))


class Mlp(nn.Module):
    def __init__(self, d, m, gelu):
        super().__init__()
        self.gelu = gelu
        self.fc1 = nn.Linear(d, m)
        self.fc2 = nn.Linear(m, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate=self.gelu))


class AttentionPoolLatent(nn.Module):
    """MAP head: a learned latent attends to the tokens; then x + mlp(LayerNorm(x)); token 0."""

    def __init__(self, d, m, heads, gelu):
        super().__init__()
        self.heads = heads
        self.latent = nn.Parameter(torch.zeros(1, 1, d))
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d, eps=EPS)
        self.mlp = Mlp(d, m, gelu)

    def forward(self, x):
        b, n, d = x.shape
        hd = d // self.heads
        q = self.q(self.latent.expand(b, -1, -1)).reshape(b, 1, self.heads, hd).transpose(1, 2)
        kv = self.kv(x).reshape(b, n, 2, self.heads, hd).permute(2, 0, 3, 1, 4)   # rows [k | v]
        o = attention(q, kv[0], kv[1]).transpose(1, 2).reshape(b, 1, d)
        o = self.proj(o)
        o = o + self.mlp(self.norm(o))
        return o[:, 0]


class ViT22B(nn.Module):
    def __init__(self, a):
        super().__init__()
        tokens = (a.image_size // a.patch) ** 2
        self.patch_embed = PatchEmbed(a.channels, a.width, a.patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, a.width))
        self.blocks = nn.ModuleList(ParallelScalingBlock(a.width, a.mlp, a.heads, a.norm, a.gelu)
                                    for _ in range(a.depth))
        self.norm = ScaleNorm(a.width, a.norm)
        self.attn_pool = AttentionPoolLatent(a.width, a.mlp, a.heads, a.gelu)
        self.head = nn.Linear(a.width, a.classes)

    def forward(self, img):
        x = self.patch_embed(img) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.attn_pool(self.norm(x)))


def randomize(model, seed):
    """Random weights with every part non-trivial (norm scales near 1, a non-zero classifier)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen)
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * r)
            elif p.dim() == 1:
                p.copy_(0.2 * r)
            else:
                fan_in = p[0].numel() if p.dim() > 1 and name.endswith("weight") else p.shape[-1]
                p.copy_(r / fan_in ** 0.5)


def save_safetensors(tensors, path):
    """safetensors writer (F32, no __metadata__): the package's if installed, else our own."""
    try:
        from safetensors.torch import save_file
        save_file(tensors, path)
        return "safetensors " + __import__("safetensors").__version__
    except ImportError:
        pass
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        blob = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)
    return "own writer in vit22b_torch.py"


def load_image(path, channels, size):
    img = Image.open(path)
    want = {1: "L", 3: "RGB"}[channels]
    if img.mode != want or img.size != (size, size):
        raise SystemExit(f"{path}: need a {size}x{size} {want} image, got {img.size[0]}x{img.size[1]} {img.mode}")
    x = np.asarray(img, dtype=np.float64) / 127.5 - 1.0
    x = x[None] if channels == 1 else x.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(x))[None]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--logits", required=True)
    p.add_argument("--gelu", choices=["tanh", "exact"], default="tanh")
    p.add_argument("--norm", choices=["rms", "layer"], default="rms")
    for k, v in dict(width=64, depth=2, mlp=256, heads=4, patch=4, image_size=28, channels=1, classes=10, seed=0).items():
        p.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    a = p.parse_args()
    a.gelu = {"tanh": "tanh", "exact": "none"}[a.gelu]   # torch's names

    torch.manual_seed(a.seed)
    model = ViT22B(a)
    randomize(model, a.seed)
    state = {k: v.to(torch.float32) for k, v in model.state_dict().items()}
    writer = save_safetensors(state, a.weights)

    # Reference in float64 from exactly the float32 values written.
    model = model.double()
    model.load_state_dict({k: v.double() for k, v in state.items()})
    model.eval()
    with torch.no_grad():
        logits = model(load_image(a.image, a.channels, a.image_size))[0]
    with open(a.logits, "w") as f:
        json.dump({"logits": logits.tolist(), "torch": torch.__version__, "writer": writer,
                   "gelu": a.gelu, "norm": a.norm, "params": sum(v.numel() for v in state.values()),
                   "keys": list(state.keys())}, f)


if __name__ == "__main__":
    main()
