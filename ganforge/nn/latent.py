"""Latents: what G consumes for one batch (Latent), rendering them in batches, BigGAN's
truncation trick, lerp and slerp."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class Latent:
    """Everything G consumes for one batch. `labels` are drawn for conditional models; `codes`
    are extra latent codes a family appends to z (InfoGAN)."""
    z: torch.Tensor
    labels: torch.Tensor | None = None
    codes: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.z.shape[0]

    def slice(self, start: int, stop: int) -> "Latent":
        return Latent(self.z[start:stop], None if self.labels is None else self.labels[start:stop],
                      {k: v[start:stop] for k, v in self.codes.items()})

    def batches(self, batch_size: int) -> Iterator["Latent"]:
        for i in range(0, len(self), batch_size):
            yield self.slice(i, i + batch_size)


def render_batches(generate: Callable[[Latent], torch.Tensor], latent: Latent,
                   batch_size: int) -> Iterator[torch.Tensor]:
    """generate(chunk) for consecutive chunks of `latent` (e.g. a family's generate bound to G):
    the one place that cuts a large set of latents into batches for a generator."""
    for chunk in latent.batches(batch_size):
        yield generate(chunk)


def truncated_normal(
    shape: Sequence[int] | int,
    threshold: float | None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Sample N(0, 1) truncated to [-threshold, threshold] (Brock et al. 2019, BigGAN, sec. 3.1).

    The truncation trick as the paper defines it: entries whose magnitude exceeds the threshold
    are resampled until none does, which gives an exact truncated normal (neither clipping, which
    piles mass on the bounds, nor rescaling, which changes the shape). Only the offending entries
    are redrawn each round. Smaller thresholds trade variety for fidelity.

    ``threshold`` None or <= 0 means no truncation: a plain N(0, 1) sample.

    The redraw loop is bounded: entries still out of range after MAX_REDRAW_ROUNDS rounds (which
    for thresholds >= 0.05, the smallest the CLI and explorer accept, has odds below 1e-17 per
    entry) are drawn by inverting the normal CDF on [-threshold, threshold] instead, which is exact
    too; thresholds below 0.05 (only reachable from Python) use that inversion for every redraw.
    """
    sample = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if threshold is None or threshold <= 0:
        return sample
    if not math.isfinite(threshold):
        raise ValueError(f"truncation threshold must be finite, got {threshold}")
    flat = sample.view(-1)
    offending = torch.nonzero(flat.abs() > threshold).squeeze(1)
    if threshold < 0.05:  # redrawing would take hundreds of rounds: invert the CDF at once
        flat[offending] = _inverse_cdf_draw(offending.numel(), threshold, generator, flat)
        return sample
    for _ in range(MAX_REDRAW_ROUNDS):
        if not offending.numel():
            return sample
        redraw = torch.randn(offending.numel(), generator=generator, device=flat.device, dtype=flat.dtype)
        flat[offending] = redraw
        offending = offending[redraw.abs() > threshold]
    if offending.numel():
        flat[offending] = _inverse_cdf_draw(offending.numel(), threshold, generator, flat)
    return sample


MAX_REDRAW_ROUNDS = 1000


def _inverse_cdf_draw(n: int, threshold: float, generator, like: torch.Tensor) -> torch.Tensor:
    """n draws of N(0, 1) truncated to [-threshold, threshold]: uniform on [Phi(-t), Phi(t)],
    mapped back through Phi^-1 (in float64, clamped against rounding at the ends)."""
    lo = 0.5 * math.erfc(threshold / math.sqrt(2))
    u = torch.rand(n, generator=generator, device=like.device, dtype=torch.float64)
    z = torch.special.ndtri(lo + u * (1 - 2 * lo))
    return z.clamp(-threshold, threshold).to(like.dtype)


def _as_weight(t: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    # A tensor t indexes the batch dims; the trailing unit dim broadcasts over the vector dim.
    if isinstance(t, torch.Tensor):
        return t.to(device=like.device, dtype=like.dtype).unsqueeze(-1)
    return t


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``a + t (b - a)`` between vectors along the last dim, exact at t = 0, 1.

    ``t`` is a float, or a tensor shaped like the batch dims (e.g. [N] for [N, D] endpoints,
    or [S] for a path of S steps between two [D] vectors, giving [S, D]).
    """
    return torch.lerp(a, b, _as_weight(t, a))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation between vectors along the last dim (Shoemake 1985; for GAN latents
    White 2016, "Sampling Generative Networks").

    Follows the great circle between the directions of a and b, so for endpoints of equal norm
    every point keeps that norm, staying in the shell where Gaussian latents live; a straight
    line would cut through the low-density centre. ``t`` broadcasts as in ``lerp``.
    The angle comes from ``2 atan2(|a^ - b^|, |a^ + b^|)``, accurate at all angles. For
    near-parallel endpoints (sin of the angle below ``eps``) slerp and lerp coincide and lerp is
    used; for exactly opposite endpoints the great circle is undefined and lerp is used as well.
    """
    a_dir = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b_dir = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    angle = 2 * torch.atan2((a_dir - b_dir).norm(dim=-1), (a_dir + b_dir).norm(dim=-1)).unsqueeze(-1)
    sin_angle = torch.sin(angle)
    degenerate = sin_angle < eps
    safe_sin = torch.where(degenerate, torch.ones_like(sin_angle), sin_angle)  # no 0/0, no NaN grads
    t = _as_weight(t, a)
    spherical = (torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / safe_sin
    linear = torch.lerp(a, b, t)
    return torch.where(degenerate, linear, spherical)
