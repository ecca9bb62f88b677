"""Regularizers: small functions a family adds to its losses, or applies after a step.

Each penalty is a mean over the batch and computed in fp32 (autocast off): gradient penalties
need the precision of the double backward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

Tensor = torch.Tensor
Critic = Callable[[Tensor, "Tensor | None"], Tensor]  # D's real/fake logit of (x, labels)


def _input_grad(D: nn.Module, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        out = D(x, labels)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out, grad.flatten(1)


def gradient_penalty(D: nn.Module, reals: Tensor, fakes: Tensor, labels: Tensor | None = None,
                     generator: torch.Generator | None = None, target: float = 1.0) -> Tensor:
    """Gulrajani et al. 2017: E[(||grad D(x_hat)|| - 1)^2] on random interpolates
    x_hat = eps * x + (1 - eps) * G(z), eps ~ U[0, 1] per sample."""
    shape = (reals.shape[0],) + (1,) * (reals.dim() - 1)
    eps = torch.rand(shape, device=reals.device, generator=generator)
    mixed = eps * reals.detach().float() + (1 - eps) * fakes.detach().float()
    _, grad = _input_grad(D, mixed, labels)
    return ((grad.norm(2, dim=1) - target) ** 2).mean()


def r1_penalty(D: nn.Module | Critic, reals: Tensor, labels: Tensor | None = None) -> Tensor:
    """Mescheder et al. 2018: E[||grad D(x)||^2] on real data (multiply by gamma / 2)."""
    _, grad = _input_grad(D, reals, labels)
    return grad.pow(2).sum(1).mean()


def drift_penalty(d_real: Tensor) -> Tensor:
    """Karras et al. 2018 (PGGAN): E[D(x)^2] keeps the critic's output near zero."""
    return d_real.float().pow(2).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, bound: float) -> None:
    """Arjovsky et al. 2017: clamp every critic parameter to [-bound, bound] after each step."""
    for p in module.parameters():
        p.clamp_(-bound, bound)


@dataclass(frozen=True)
class LazyRegularizer:
    """A penalty on D that runs as its own optimiser step every `interval` training steps, with
    its weight multiplied by `interval` so its average strength stays `weight` (StyleGAN2's lazy
    regularization, Karras et al. 2020). `penalty(critic, reals, labels)` gets D's real/fake logit
    as a function of (x, labels) and the real batch of the step's last D update."""
    name: str
    weight: float
    interval: int
    penalty: Callable[[Critic, Tensor, "Tensor | None"], Tensor]

    def due(self, step: int) -> bool:
        return step % self.interval == 0

    def loss(self, critic: Critic, reals: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        """(the weighted loss to back-propagate, the bare penalty for the log)."""
        value = self.penalty(critic, reals, labels)
        return self.weight * self.interval * value, value.detach()
