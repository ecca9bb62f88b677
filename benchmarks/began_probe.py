"""Why BEGAN stalls on the bundled digits: two probes of the recipe's networks (width 32,
hidden 64, 32x32), outside the GAN game.

1. Signal at initialisation: how much D's reconstructions of 32 different digits, and G's images
   for 32 different z, differ from each other (std over the batch, mean over pixels). Near zero
   means the network's output ignores its input.
2. D alone as an auto-encoder of the real digits (L1, batch 16, Adam betas (0.5, 0.999), the
   recipe's), per learning rate: how soon its error leaves 0.263, the error of drawing every digit
   as pure background.

Each for PyTorch's default initialisation and for Glorot-uniform weights with zero biases;
--skip builds both networks with the paper's skip connections (models/began.py).

    python benchmarks/began_probe.py [--lrs 1e-4,2e-4,5e-4,1e-3] [--steps 800] [--seeds 0,1,2] [--threads 1] [--skip]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from ganforge.data.sources import load_dataset
from ganforge.images import from_uint8
from ganforge.models.began import BEGANDiscriminator, BEGANGenerator

SHAPE, WIDTH, HIDDEN, Z = (1, 32, 32), 32, 64, 64


def glorot(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


INITS = {"default": lambda module: None, "glorot": glorot}


def digits() -> torch.Tensor:
    """The bundled digits as the recipe's training sees them: 32x32, in [-1, 1]."""
    return from_uint8(load_dataset("mnist", image_size=SHAPE[-1]).images)


def signal(x: torch.Tensor, seeds: list[int], skip: bool) -> None:
    print("| init | seed | D reconstruction spread | G image spread (before tanh) |\n|---|---|---|---|")
    for name, init in INITS.items():
        for seed in seeds:
            torch.manual_seed(seed)
            D, G = (BEGANDiscriminator(SHAPE, width=WIDTH, hidden=HIDDEN, skip=skip),
                    BEGANGenerator(SHAPE, z_dim=Z, width=WIDTH, skip=skip))
            init(D)
            init(G)
            with torch.no_grad():
                d = D.reconstruct(x[:32]).std(0).mean().item()
                g = G.decoder(torch.randn(32, Z)).std(0).mean().item()
            print(f"| {name} | {seed} | {d:.2e} | {g:.2e} |")


def autoencoder(x: torch.Tensor, lrs: list[float], steps: int, skip: bool) -> None:
    marks = list(range(100, steps + 1, 100))
    print(f"\nAll-background error: {(x + 1).abs().mean().item():.3f}\n")
    print("| init | lr | " + " | ".join(f"step {s}" for s in marks) + " | s |")
    print("|---|---|" + "---|" * (len(marks) + 1))
    for name, init in INITS.items():
        for lr in lrs:
            torch.manual_seed(0)
            D = BEGANDiscriminator(SHAPE, width=WIDTH, hidden=HIDDEN, skip=skip)
            init(D)
            opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
            pick, row, start = torch.Generator().manual_seed(0), [], time.time()
            for step in range(1, steps + 1):
                loss = D.reconstruction_error(x[torch.randint(0, len(x), (16,), generator=pick)]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step in marks:
                    row.append(f"{loss.item():.3f}")
            print(f"| {name} | {lr:g} | " + " | ".join(row) + f" | {time.time() - start:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lrs", default="1e-4,2e-4,5e-4,1e-3")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip", action="store_true", help="the decoders' skip connections")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = digits()
    signal(x, [int(s) for s in args.seeds.split(",")], args.skip)
    autoencoder(x, [float(v) for v in args.lrs.split(",")], args.steps, args.skip)


if __name__ == "__main__":
    main()
