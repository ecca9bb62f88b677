"""Wasserstein GANs: a critic (no sigmoid) trained several steps per generator step.

WGAN (Arjovsky et al. 2017) keeps the critic Lipschitz by clipping every weight after each critic
step; WGAN-GP (Gulrajani et al. 2017) penalises the critic's gradient norm on random interpolates
between real and generated samples instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..objectives.regularizers import clip_weights_, gradient_penalty
from .base import Family, Latent, Stats

Tensor = torch.Tensor


@dataclass
class WGAN(Family):
    """Arjovsky et al. 2017: Wasserstein loss, weights clipped to [-clip, clip] after every critic
    step, `d_steps` critic steps per generator step, and the reference code's warm-up:
    `warmup_d_steps` critic steps for the first `warmup_g_steps` generator steps and at every
    `warmup_every`-th generator step (0 disables either)."""
    loss: str = "wasserstein"
    d_steps: int = 5
    clip: float = 0.01
    warmup_d_steps: int = 100
    warmup_g_steps: int = 25
    warmup_every: int = 500

    def __post_init__(self):
        super().__post_init__()
        if self.clip < 0:
            raise ConfigError("family.clip must be >= 0 (0 disables clipping)")
        if self.warmup_d_steps < 0 or self.warmup_g_steps < 0 or self.warmup_every < 0:
            raise ConfigError("family.warmup_* values must be >= 0")

    def in_warmup(self, g_step: int) -> bool:
        if self.warmup_d_steps == 0:
            return False
        periodic = self.warmup_every > 0 and g_step % self.warmup_every == 0
        return g_step < self.warmup_g_steps or periodic

    def d_steps_at(self, g_step: int) -> int:
        return self.warmup_d_steps if self.in_warmup(g_step) else self.d_steps

    @property
    def reuses_fakes(self) -> bool:
        # A reused G forward would keep the graph of every warm-up critic step alive.
        return self.d_steps == 1 and self.warmup_d_steps <= 1

    def after_d_step(self, D) -> None:
        if self.clip > 0:
            clip_weights_(D, self.clip)


@dataclass
class WGANGP(Family):
    """Gulrajani et al. 2017: Wasserstein loss plus `gp_weight` * E[(||grad D(x_hat)|| - 1)^2] on
    x_hat = eps x + (1 - eps) G(z); 5 critic steps per generator step. The critic must not use
    BatchNorm (the penalty is per sample): the recipe sets discriminator.batchnorm = false."""
    loss: str = "wasserstein"
    d_steps: int = 5
    gp_weight: float = 10.0

    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        loss, stats = super().d_loss(D, reals, real_labels, fakes, latent, noise)
        # Interpolates take the real sample's label (they lie on the segment from it).
        gp = gradient_penalty(D, reals, fakes, real_labels, generator=noise)
        total = loss + self.gp_weight * gp
        return total, {**stats, "d_loss": total.detach(), "gp": gp.detach()}
