"""Differentiable augmentation for data-efficient GAN training.

DiffAugment (Zhao et al. 2020): the same family of random, differentiable transforms T is applied
to every image D sees, real and generated, in D's step and in G's step, so G's gradient passes
through T and the augmentations do not leak into G's samples. Policy `color,translation,cutout`
with the paper's parameters:
  color        brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
  translation  shift by up to 1/8 of the image size in each direction, zero padding
  cutout       a square of half the image size, at a random position, set to zero
Every parameter is drawn per sample. Images are in [-1, 1], so zero is mid grey.

ADA (Karras et al. 2020): each transform is applied to each sample with probability p (the same
p for every transform), and p follows the overfitting heuristic r_t = E[sign(D(x_real))]: every
`interval` minibatches p moves by sign(r_t - target) * images / (kimg * 1000), so it could go
from 0 to 1 within `kimg` thousand images. p and the running sums are buffers, so they are saved
with the discriminator and a resumed run continues exactly.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError

Tensor = torch.Tensor
Op = Callable[[Tensor, "torch.Generator | None"], Tensor]

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(x: Tensor, generator, low: float, high: float) -> Tensor:
    """One U(low, high) value per sample, shaped to broadcast over [N, C, H, W]."""
    u = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator, dtype=torch.float32)
    return (low + (high - low) * u).to(x.dtype)


def brightness(x: Tensor, generator=None) -> Tensor:
    return x + _uniform(x, generator, -0.5, 0.5)


def saturation(x: Tensor, generator=None) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)  # per-pixel grey level
    return (x - mean) * _uniform(x, generator, 0.0, 2.0) + mean


def contrast(x: Tensor, generator=None) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, generator, 0.5, 1.5) + mean


def _shifts(n: int, limit: int, device, generator) -> Tensor:
    return torch.randint(-limit, limit + 1, (n, 1, 1), device=device, generator=generator)


def translation(x: Tensor, generator=None, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Output pixel (i, j) of sample n is input pixel (i + dy_n, j + dx_n), zero where that falls
    outside the image; |dy|, |dx| <= round(ratio * size)."""
    n, _, h, w = x.shape
    dy = _shifts(n, int(h * ratio + 0.5), x.device, generator)
    dx = _shifts(n, int(w * ratio + 0.5), x.device, generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy            # [N, H, 1]
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx            # [N, 1, W]
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)  # [N, 1, H, W]
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w)
    moved = x.flatten(2).gather(2, index.expand(n, x.shape[1], h * w)).view_as(x)
    return moved * inside.to(x.dtype)


def cutout(x: Tensor, generator=None, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Zero a square of round(ratio * size) pixels per side centred at a random pixel (the square
    may reach past the border; only its part inside the image is cut)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centres over the positions that keep the square's inside part non-empty (as DiffAugment).
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device, generator=generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - (cy - ch // 2)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - (cx - cw // 2)
    cut = (rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)
    return x * (~cut).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, tuple[Op, ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> the names in order; '' -> (); unknown names are an error."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ConfigError(f"unknown train.augment '{unknown[0]}'; valid: {', '.join(POLICIES)}")
    return names


class DiffAugment(nn.Module):
    """Applies a policy's transforms to a batch of images [N, C, H, W].

    Without ADA (`ada_target` 0) every transform is applied to every sample, as in DiffAugment.
    With ADA each transform is applied to each sample with probability `p` (starting at 0).
    Random draws come from `generator` (set by the trainer to its saved noise stream); without
    one, from torch's global generator."""

    def __init__(self, policy: str, ada_target: float = 0.0, ada_kimg: float = 500.0,
                 ada_interval: int = 4):
        super().__init__()
        self.names = parse_policy(policy)
        if not self.names:
            raise ConfigError("DiffAugment needs at least one transform in train.augment")
        self.ops = [op for name in self.names for op in POLICIES[name]]
        self.ada_target, self.ada_kimg, self.ada_interval = ada_target, ada_kimg, ada_interval
        self.generator: torch.Generator | None = None
        self.register_buffer("p", torch.tensor(0.0 if self.adaptive else 1.0))
        # r_t's running sum over the current window of minibatches, their count and image count.
        self.register_buffer("sign_sum", torch.tensor(0.0))
        self.register_buffer("window_batches", torch.tensor(0.0))
        self.register_buffer("window_images", torch.tensor(0.0))

    @property
    def adaptive(self) -> bool:
        return self.ada_target > 0

    def forward(self, x: Tensor) -> Tensor:
        for op in self.ops:
            changed = op(x, self.generator)
            if self.adaptive:  # each sample keeps its input with probability 1 - p
                draw = torch.rand(x.shape[0], device=x.device, generator=self.generator)
                apply = (draw < self.p).view(-1, *([1] * (x.dim() - 1)))
                changed = torch.where(apply, changed, x)
            x = changed
        return x

    @torch.no_grad()
    def observe(self, real_sign_mean: Tensor, images: int) -> None:
        """ADA: add one minibatch's E[sign(D(x_real))]; every `ada_interval` minibatches adjust p.
        Tensor operations only, so the training step never waits for the device."""
        if not self.adaptive:
            return
        self.sign_sum += real_sign_mean.detach().float().to(self.sign_sum.device)
        self.window_batches += 1
        self.window_images += images
        due = self.window_batches >= self.ada_interval
        r_t = self.sign_sum / self.window_batches
        step = torch.sign(r_t - self.ada_target) * self.window_images / (self.ada_kimg * 1000)
        self.p.copy_(torch.where(due, (self.p + step).clamp(0.0, 1.0), self.p))
        for buf in (self.sign_sum, self.window_batches, self.window_images):
            buf.copy_(torch.where(due, torch.zeros_like(buf), buf))

    def extra_repr(self) -> str:
        ada = f", ada_target={self.ada_target}, ada_kimg={self.ada_kimg}" if self.adaptive else ""
        return f"policy={','.join(self.names)}{ada}"
