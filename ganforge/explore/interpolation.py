"""Walks between two generator inputs: z by lerp or slerp, classes through their embeddings,
float InfoGAN codes linearly; codes held as class indices switch half-way. Step 0 is the first input and the last step the second, exactly."""
from __future__ import annotations

import torch

from ..errors import GanforgeError
from ..nn.latent import lerp, slerp
from .points import ClassPath, Point, render, seed_points

MAX_STEPS = 64


def fractions(steps: int) -> torch.Tensor:
    """0, 1/(steps-1), ..., 1."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise GanforgeError(f"steps must be an integer in 2..{MAX_STEPS}, got {steps!r}")
    return torch.linspace(0, 1, steps, dtype=torch.float64)


def interpolate(a: Point, b: Point, steps: int, spherical: bool = False) -> Point:
    """`steps` points from a to b (single points). z follows slerp when `spherical`, else a straight
    line; different classes are blended in embedding space by the same rule; float codes lerp."""
    if len(a) != 1 or len(b) != 1:
        raise GanforgeError("interpolate between two single points")
    if a.classes is not None or b.classes is not None:
        raise GanforgeError("interpolation endpoints must have plain classes")
    t = fractions(steps)
    z_a, z_b = a.z[0].double(), b.z[0].double()
    z = (slerp if spherical else lerp)(z_a, z_b, t).to(a.z.dtype)
    codes = {}
    for name, value in a.codes.items():
        other = b.codes[name]
        if value.is_floating_point():
            codes[name] = lerp(value[0].double().flatten(), other[0].double().flatten(), t).to(
                value.dtype).view(steps, *value.shape[1:])
        else:  # class indices cannot blend: the first half keeps a's, the second half b's
            codes[name] = torch.where((t < 0.5).view(steps, *[1] * (value.dim() - 1)).to(value.device),
                                      value[:1], other[:1]).expand(steps, *value.shape[1:]).clone()
    labels, classes = None, None
    if (a.labels is None) != (b.labels is None):
        raise GanforgeError("one endpoint has a class and the other has none")
    if a.labels is not None:
        if a.labels[0] == b.labels[0]:
            labels = a.labels.expand(steps).clone()
        else:
            classes = ClassPath(a.labels.expand(steps), b.labels.expand(steps), t, spherical)
    return Point(z, labels, codes, classes)


def interpolation_rows(g, seeds: list[int], steps: int, spherical: bool = False,
                       labels: list[int] | None = None, truncation: float | None = None) -> list[torch.Tensor]:
    """One row of `steps` samples for each consecutive pair of seeds (seeds[i] -> seeds[i+1])."""
    if len(seeds) < 2:
        raise GanforgeError("interpolation needs at least two seeds")
    ends = seed_points(g, seeds, labels, truncation)
    return [render(g, interpolate(ends.slice(i, i + 1), ends.slice(i + 1, i + 2), steps, spherical))
            for i in range(len(seeds) - 1)]
