"""Which auto-encoder D lets BEGAN draw digits on the bundled data: a bare BEGAN game loop (no
ganforge trainer) over a few D/G pairs, scored every --eval-every steps with the quality
benchmark's classifier (2,000 samples against 2,000 real digits) and a sample grid per score.

Pairs (--arch): `small` the small batch-normed auto-encoder D (one strided convolution, FC
bottleneck; models/began.py, autoencoder="small") with a small batch-normed upsample-convolution
G; `paperG` that D with the paper's decoder as G (the began recipe's pair); `paper` the paper's
deep D and G; `paperBN` the paper's D with batch norm on its embedding h. --bn 0 drops the batch
norms of the small models. Adam (0.5, 0.999), k_0 = 0, lambda_k --lk, one torch thread.

    python benchmarks/began_autoencoder_probe.py --arch paperG --steps 1500 --classifier runs/benchmarks/classifier-mnist --out /tmp/began-paperG
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from ganforge.data.sources import load_dataset
from ganforge.images import from_uint8, grid_image, save_png, to_uint8
from ganforge.metrics import get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.models.began import BEGANDiscriminator, BEGANGenerator

SHAPE, Z = (1, 32, 32), 64


def small_generator(bn: bool) -> nn.Module:
    norm = nn.BatchNorm2d if bn else (lambda c: nn.Identity())
    return nn.Sequential(
        nn.Linear(Z, 128 * 8 * 8), nn.Unflatten(1, (128, 8, 8)), norm(128),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 128, 3, 1, 1), norm(128), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, 1, 1), norm(64), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 1, 3, 1, 1), nn.Tanh())


def small_discriminator(bn: bool) -> BEGANDiscriminator:
    D = BEGANDiscriminator(SHAPE, width=64, hidden=32, autoencoder="small")
    if not bn:
        for i, m in enumerate(D.decoder.net):
            if isinstance(m, nn.BatchNorm1d):
                D.decoder.net[i] = nn.Identity()
    return D


def pair(arch: str, bn: bool) -> tuple[nn.Module, nn.Module]:
    """(D, G), D built first (the seeded initialisation follows that order)."""
    if arch not in ("small", "paperG", "paper", "paperBN"):
        raise SystemExit(f"unknown --arch {arch}")
    if arch in ("small", "paperG"):
        D = small_discriminator(bn)
        return D, small_generator(bn) if arch == "small" else BEGANGenerator(SHAPE, z_dim=Z, width=32)
    D = BEGANDiscriminator(SHAPE, width=32, hidden=64)
    if arch == "paperBN":
        D.encoder.fc = nn.Sequential(D.encoder.fc, nn.BatchNorm1d(64))
    return D, BEGANGenerator(SHAPE, z_dim=Z, width=32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="paperG")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--gamma", type=float, default=0.75)
    p.add_argument("--lk", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bn", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--classifier", required=True)
    p.add_argument("--out", required=True, help="prefix of the grids: OUT-stepN.png")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    X = from_uint8(load_dataset("mnist", image_size=SHAPE[-1]).images)
    extractor = get_extractor(f"classifier:{a.classifier}")
    reference, _ = extractor.extract(to_uint8(X[np.random.default_rng(0).permutation(len(X))[:2000]]))
    D, G = pair(a.arch, bool(a.bn))
    opt_d = torch.optim.Adam(D.parameters(), a.lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), a.lr, betas=(0.5, 0.999))
    k, start = 0.0, time.time()
    for step in range(1, a.steps + 1):
        reals = X[torch.randint(len(X), (a.batch,))]
        l_real = D.reconstruction_error(reals).mean()
        l_fake = D.reconstruction_error(G(torch.randn(a.batch, Z)).detach()).mean()
        opt_d.zero_grad()
        (l_real - k * l_fake).backward()
        opt_d.step()
        l_g = D.reconstruction_error(G(torch.randn(a.batch, Z))).mean()
        opt_g.zero_grad()
        l_g.backward()
        opt_g.step()
        balance = a.gamma * l_real.item() - l_fake.item()
        k = min(1.0, max(0.0, k + a.lk * balance))
        if step % a.eval_every == 0 or step == a.steps:
            G.eval()
            with torch.no_grad():
                fakes = torch.cat([G(torch.randn(500, Z, generator=torch.Generator().manual_seed(i))) for i in range(4)])
            G.train()
            features, _ = extractor.extract(to_uint8(fakes.clamp(-1, 1)))
            print(json.dumps({"step": step, "fid": round(fid_from_features(reference, features), 2),
                              "k": round(k, 4), "l_real": round(l_real.item(), 4), "l_fake": round(l_fake.item(), 4),
                              "m_global": round(l_real.item() + abs(balance), 4), "s": round(time.time() - start)}), flush=True)
            save_png(grid_image(fakes[:64].clamp(-1, 1), 8, 2), f"{a.out}-step{step}.png")


if __name__ == "__main__":
    main()
