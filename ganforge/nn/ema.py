"""Exponential moving average of a network's weights (Karras et al. 2018, PGGAN; Yazici et al.
2019, "The Unusual Effectiveness of Averaging in GAN Training"), with StyleGAN2-ADA's half-life
in images to set the decay."""

import copy
from typing import Any

import torch
from torch import nn


def ema_decay_from_half_life(batch_size: int, half_life_images: float) -> float:
    """Per-step decay after which an old weight's share halves every ``half_life_images`` images:
    ``0.5 ** (batch_size / half_life_images)`` (Karras et al. 2020, StyleGAN2-ADA: 10k images).

    Stated in images rather than steps, it stays right when the batch size changes.
    """
    if batch_size <= 0 or half_life_images <= 0:
        raise ValueError(f"batch_size and half_life_images must be positive, got {batch_size}, {half_life_images}")
    return 0.5 ** (batch_size / half_life_images)


class ExponentialMovingAverage:
    """Holds ``module``, a frozen copy of a network whose parameters track an exponential moving
    average of the network's: ``ema = decay * ema + (1 - decay) * param``. Buffers (BatchNorm
    statistics, spectral-norm vectors) are copied as they are, since averaging them means nothing.

    Parameters are matched by position, so the network passed to ``update`` may be the same
    architecture wrapped differently (e.g. by DistributedDataParallel) as long as the order and
    shapes agree. The copy keeps the mode the network had; call ``ema.module.eval()`` to sample.
    """

    def __init__(self, model: nn.Module):
        self.module = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """One averaging step towards ``model``'s current weights; ``decay=0`` copies them."""
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        pairs = list(zip(*_paired(self.module.parameters(), model.parameters(), "parameters")))
        floating = [(ema, p.to(ema.device, ema.dtype)) for ema, p in pairs if ema.is_floating_point()]
        if floating:
            targets, sources = zip(*floating)
            # lerp(ema, p, 1 - decay) = decay * ema + (1 - decay) * p, fused over all tensors.
            torch._foreach_lerp_(list(targets), list(sources), 1.0 - decay)
        for ema, p in pairs:
            if not ema.is_floating_point():
                ema.copy_(p)
        for ema_buffer, buffer in zip(*_paired(self.module.buffers(), model.buffers(), "buffers")):
            ema_buffer.copy_(buffer)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.module.load_state_dict(state_dict)


def _paired(ours, theirs, kind: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    ours, theirs = list(ours), list(theirs)
    if len(ours) != len(theirs) or any(a.shape != b.shape for a, b in zip(ours, theirs)):
        raise ValueError(f"the model's {kind} do not match the averaged copy's (different architecture?)")
    return ours, theirs
