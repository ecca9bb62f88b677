"""Fully connected generator and discriminator (Goodfellow et al. 2014), for images or points."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..nn.norms import MinibatchStddev
from .base import Discriminator, Generator, check_mbstd_group


class MLPGenerator(Generator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, z_dim: int = 100,
                 width: int = 512, depth: int = 3, conditioning: str = "none"):
        super().__init__(z_dim, num_classes, conditioning)
        self.data_shape = tuple(data_shape)
        self.is_image = len(self.data_shape) == 3
        layers: list[nn.Module] = []
        size = self.input_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(size, width), nn.ReLU(inplace=True)]
            size = width
        layers.append(nn.Linear(size, math.prod(self.data_shape)))
        if self.is_image:
            layers.append(nn.Tanh())  # images live in [-1, 1]; points are unbounded
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.condition(z, labels)).view(z.shape[0], *self.data_shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, width: int = 512,
                 depth: int = 3, slope: float = 0.2, conditioning: str = "none",
                 mbstd_group: int = 0):
        super().__init__(data_shape, num_classes, conditioning)
        size = math.prod(data_shape)
        if conditioning == "concat":
            size += math.prod(data_shape[1:]) if len(data_shape) > 1 else 1
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(depth - 1):
            layers += [nn.Linear(size, width), nn.LeakyReLU(slope, inplace=True)]
            size = width
        check_mbstd_group(mbstd_group)
        if mbstd_group > 0:  # PGGAN's minibatch stddev as one more feature before the output
            layers.append(MinibatchStddev(mbstd_group))
            size += 1
        self.net = nn.Sequential(*layers)
        self.finish(size)

    def conditioned_input(self, x, labels):
        if self.label_map is not None and x.dim() == 2:  # points: one extra coordinate
            return torch.cat([x, self.label_map(labels)], dim=1)
        return super().conditioned_input(x, labels)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
