"""Vector arithmetic on generator inputs (Radford et al. 2015, sec. 6.3): average the inputs of each
group of samples, then combine the means, e.g. mean(a) - mean(b) + mean(c). Single samples were
unstable in the paper, group means (of three) were not. Classes combine the same way in embedding
space, float InfoGAN codes as vectors; codes held as class indices combine as one-hot vectors and
keep the strongest class."""
from __future__ import annotations

import torch

from ..errors import GanforgeError
from .points import ClassWeights, Point, one_hot_weights, simplify

MAX_GROUP = 16


def group_mean(point: Point, num_classes: int = 0) -> Point:
    """The mean input of a group, as a single point."""
    return combine([(1.0, point)], num_classes)


def combine(terms: list[tuple[float, Point]], num_classes: int = 0) -> Point:
    """sum_i w_i * mean(group_i) for every part of the input (z, class embeddings, float codes)."""
    if not terms:
        raise GanforgeError("nothing to combine")
    for _, group in terms:
        if len(group) == 0:
            raise GanforgeError("every group needs at least one sample")
        if group.classes is not None and not isinstance(group.classes, ClassWeights):
            raise GanforgeError("groups must have plain or weighted classes")
    z = sum(w * group.z.double().mean(0, keepdim=True) for w, group in terms).to(terms[0][1].z.dtype)
    codes = {}
    for name, value in terms[0][1].codes.items():
        if value.is_floating_point():
            codes[name] = sum(w * g.codes[name].double().mean(0, keepdim=True)
                              for w, g in terms).to(value.dtype)
        else:  # class indices: combine as one-hot vectors, keep the strongest class
            size = max(int(g.codes[name].max()) for _, g in terms) + 1
            mix = sum(w * one_hot_weights(g.codes[name].flatten(), size).mean(0) for w, g in terms)
            codes[name] = torch.full_like(value[:1], int(mix.argmax()))
    classes = None
    if any(g.labels is not None or g.classes is not None for _, g in terms):
        if num_classes < 2:
            raise GanforgeError("class arithmetic needs the number of classes")

        def weights(group: Point) -> torch.Tensor:
            if group.classes is not None:
                return group.classes.weights.double()
            if group.labels is None:
                raise GanforgeError("some groups have classes and some do not")
            return one_hot_weights(group.labels, num_classes)

        classes = ClassWeights(sum(w * weights(g).mean(0, keepdim=True) for w, g in terms))
    return simplify(Point(z, None, codes, classes))


def arithmetic(a: Point, b: Point, c: Point, num_classes: int = 0) -> Point:
    """mean(a) - mean(b) + mean(c), e.g. smiling woman - neutral woman + neutral man."""
    for name, group in (("a", a), ("b", b), ("c", c)):
        if not 1 <= len(group) <= MAX_GROUP:
            raise GanforgeError(f"group {name} needs 1..{MAX_GROUP} samples, got {len(group)}")
    return combine([(1.0, a), (-1.0, b), (1.0, c)], num_classes)


def jittered(point: Point, n: int, scale: float = 0.25, seed: int = 0) -> Point:
    """The point followed by n-1 copies with uniform noise in [-scale, scale] added to z, as the
    paper shows variations of an arithmetic result."""
    if len(point) != 1:
        raise GanforgeError("jitter a single point")
    if n < 1:
        raise GanforgeError("n must be >= 1")
    out = point.repeat(n)
    gen = torch.Generator().manual_seed(seed)
    noise = (torch.rand(n - 1, point.z.shape[1], generator=gen, dtype=torch.float64) * 2 - 1) * scale
    out.z[1:] += noise.to(out.z)
    return out
