#!/usr/bin/env python3
"""Loads a `vit export --timm DIR` folder with timm and runs it: the documented recipe.

    python3 bench/timm/load_timm.py DIR [--input x.f32 --output logits.f32] [--resave state.safetensors]

The load itself (the exact call the README documents):

    cfg = json.load(open(DIR / "config.json"))
    model = timm.create_model(cfg["architecture"], pretrained=False,
                              block_fn=functools.partial(ParallelScalingBlock, fuse_out_proj=True),
                              **cfg["model_args"])
    model.attn_pool.norm = torch.nn.LayerNorm(cfg["num_features"], eps=1e-6)
    model.load_state_dict(safetensors.torch.load_file(DIR / "model.safetensors"))   # strict

--input: float32 little-endian images (N, C, S, S) already preprocessed; --output: their logits
(N, classes) as float32. --resave: the loaded model's state_dict written back by safetensors
(for a round trip through PyTorch). Needs torch, timm and safetensors.
"""
import argparse
import functools
import json
import pathlib

import numpy as np
import safetensors.torch
import timm
import torch
from timm.models.vision_transformer import ParallelScalingBlock


def load(folder):
    folder = pathlib.Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    model = timm.create_model(cfg["architecture"], pretrained=False,
                              block_fn=functools.partial(ParallelScalingBlock, fuse_out_proj=True),
                              **cfg["model_args"])
    model.attn_pool.norm = torch.nn.LayerNorm(cfg["num_features"], eps=1e-6)
    model.load_state_dict(safetensors.torch.load_file(str(folder / "model.safetensors")))
    return model.eval(), cfg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--input")
    p.add_argument("--output")
    p.add_argument("--resave")
    a = p.parse_args()
    model, cfg = load(a.folder)
    if a.input:
        c, s, _ = cfg["pretrained_cfg"]["input_size"]
        x = torch.from_numpy(np.fromfile(a.input, dtype="<f4").reshape(-1, c, s, s).copy())
        with torch.no_grad():
            model.double()   # float64, so the comparison measures our float32 error only
            logits = model(x.double()).float()
        logits.numpy().astype("<f4").tofile(a.output)
    if a.resave:
        safetensors.torch.save_file({k: v.float().contiguous() for k, v in model.state_dict().items()}, a.resave)
    print(json.dumps({"timm": timm.__version__, "torch": torch.__version__, "params": sum(v.numel() for v in model.state_dict().values())}))


if __name__ == "__main__":
    main()
