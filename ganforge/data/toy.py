"""2-D Gaussian mixtures for measuring mode collapse (VEEGAN, Srivastava et al. 2017; PacGAN,
Lin et al. 2018): 8 modes on a ring and 25 modes on a grid."""

from __future__ import annotations

import math

import torch

from ganforge.data.dataset import PointDataset
from ganforge.errors import DataError


def ring_modes(count: int = 8, radius: float = 1.0) -> torch.Tensor:
    """`count` centres evenly spaced on a circle, the first at (radius, 0)."""
    angles = torch.arange(count, dtype=torch.float64) * (2 * math.pi / count)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes(coordinates: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)) -> torch.Tensor:
    """Centres at every (x, y) in coordinates^2, row by row."""
    axis = torch.tensor(coordinates, dtype=torch.float32)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


# name -> (mode centres, standard deviation of each Gaussian), as in the PacGAN experiments.
TOY_MIXTURES = {
    "ring8": (ring_modes, 0.01),
    "grid25": (grid_modes, 0.05),
}


def load_toy(name: str, samples: int, seed: int) -> PointDataset:
    """Draw `samples` points: a mode chosen uniformly, plus isotropic Gaussian noise."""
    if samples < 1:
        raise DataError(f"{name}: toy_samples must be at least 1, got {samples}")
    make_modes, std = TOY_MIXTURES[name]
    modes = make_modes()
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(modes), (samples,), generator=generator)
    noise = torch.randn(samples, 2, generator=generator) * std
    return PointDataset(points=modes[labels] + noise, labels=labels, modes=modes, std=std, name=name)
