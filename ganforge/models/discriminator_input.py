"""What happens to a discriminator's input before the discriminator: augmentation of each sample
(DiffAugment / ADA, ganforge.nn.augment), then packing (PacGAN, Lin et al. 2018: D judges m
samples at once, all real or all fake, concatenated along channels).

`DiscriminatorInput` wraps a built discriminator and is used in its place. Every way families
reach D's input goes through it: `D(x)`, `D.features(x)` (heads, ACGAN, InfoGAN, SGAN), gradient
penalties (they call `D(x)`; the gradient flows back through the augmentation to the
un-augmented input, as in DiffAugment's reference code) and BEGAN's `reconstruction_error`
(the auto-encoder reconstructs the augmented image and is scored against that same augmented
image, so BEGAN's energy is defined on T(x) for reals and fakes alike). Everything else (`logit`,
`heads`, `add_head`, `set_growth`, ...) is the wrapped discriminator's.

Augmentation happens in training mode only: a discriminator in eval mode (a trained SGAN
classifying test digits) sees its input as it is. Packing is structural and always applies.
"""
from __future__ import annotations

import torch
from torch import nn

from ..nn.augment import DiffAugment
from .base import Discriminator

Tensor = torch.Tensor


def packed_shape(data_shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape a packing discriminator is built for: m times the channels (or coordinates)."""
    return (data_shape[0] * pack, *data_shape[1:])


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """[N, C, ...] -> [N / m, m C, ...]: samples m k ... m k + m - 1 become packed sample k, the
    j-th of them in channels j C ... j C + C - 1."""
    n = x.shape[0]
    if n % pack:
        raise ValueError(f"a batch of {n} cannot be packed in sets of {pack}")
    return x.reshape(n // pack, pack * x.shape[1], *x.shape[2:])


class DiscriminatorInput(nn.Module):
    def __init__(self, inner: Discriminator, augment: DiffAugment | None = None, pack: int = 1):
        super().__init__()
        self.inner = inner
        self.augment = augment
        self.pack = pack

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__["_modules"].get("inner")
            if inner is None:
                raise
            return getattr(inner, name)

    def prepare(self, x: Tensor) -> Tensor:
        if self.augment is not None and self.training:
            x = self.augment(x)
        return pack_samples(x, self.pack) if self.pack > 1 else x

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.inner(self.prepare(x), labels)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.inner.features(self.prepare(x), labels)

    def reconstruction_error(self, x: Tensor) -> Tensor:
        return self.inner.reconstruction_error(self.prepare(x))

    def extra_repr(self) -> str:
        return f"pack={self.pack}"
