"""What the explore tools work on: a batch of generator inputs (noise z, class, InfoGAN codes)
that can be drawn by seed, blended, shifted along directions, and rendered through the run's
family exactly as sampling does.

Classes are blended in embedding space. A conditional generator looks its labels up in one or
more class-embedding tables (`nn.Embedding` with `num_classes` rows: the base Generator's
`label_embedding`, BigGAN's shared embedding or its per-layer ones). To render a blend, every such
table's output is replaced, for the duration of the call, by the blended rows of that same table
(lerp, slerp, or any linear combination of class rows), so no model needs special code. A
generator whose tables are not plain `nn.Embedding` modules of that size can say which modules
they are by defining `class_embeddings() -> list[nn.Module]` (each with a `weight` [K, E]).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..errors import GanforgeError
from ..limits import SEED_MAX
from ..nn.latent import Latent, lerp, slerp

Tensor = torch.Tensor
MAX_SEED = SEED_MAX


class ClassBlend:
    """Blended class embeddings for a batch: `rows(table)` gives [N, E] from a table [K, E]."""

    def rows(self, table: Tensor) -> Tensor:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def slice(self, i: int, j: int) -> "ClassBlend":
        raise NotImplementedError


@dataclass
class ClassWeights(ClassBlend):
    """Any linear combination of class rows: rows = weights @ table (weights [N, K])."""
    weights: Tensor

    def rows(self, table: Tensor) -> Tensor:
        return self.weights.to(table) @ table

    def __len__(self) -> int:
        return self.weights.shape[0]

    def slice(self, i: int, j: int) -> "ClassWeights":
        return ClassWeights(self.weights[i:j])


@dataclass
class ClassPath(ClassBlend):
    """From class a to class b at fractions t, linearly or on the great circle of each table."""
    a: Tensor
    b: Tensor
    t: Tensor
    spherical: bool = False

    def rows(self, table: Tensor) -> Tensor:
        blend = slerp if self.spherical else lerp
        return blend(table[self.a.to(table.device)], table[self.b.to(table.device)], self.t)

    def __len__(self) -> int:
        return self.t.shape[0]

    def slice(self, i: int, j: int) -> "ClassPath":
        return ClassPath(self.a[i:j], self.b[i:j], self.t[i:j], self.spherical)


@dataclass
class Point:
    """A batch of generator inputs. `labels` are integer classes (conditional models); `classes`,
    when set, replaces them with blended class embeddings."""
    z: Tensor
    labels: Tensor | None = None
    codes: dict[str, Tensor] = field(default_factory=dict)
    classes: ClassBlend | None = None

    def __len__(self) -> int:
        return self.z.shape[0]

    def slice(self, i: int, j: int) -> "Point":
        return Point(self.z[i:j], None if self.labels is None else self.labels[i:j],
                     {k: v[i:j] for k, v in self.codes.items()},
                     None if self.classes is None else self.classes.slice(i, j))

    def repeat(self, n: int) -> "Point":
        """A single point repeated n times."""
        if len(self) != 1:
            raise ValueError("repeat() takes a single point")
        classes = self.classes
        if isinstance(classes, ClassWeights):
            classes = ClassWeights(classes.weights.expand(n, -1))
        elif classes is not None:
            classes = ClassPath(classes.a.expand(n), classes.b.expand(n), classes.t.expand(n),
                                classes.spherical)
        return Point(self.z.expand(n, -1).clone(),
                     None if self.labels is None else self.labels.expand(n).clone(),
                     {k: v.expand(n, *v.shape[1:]).clone() for k, v in self.codes.items()}, classes)


def cat(points: list[Point]) -> Point:
    """Concatenate points that share the same kind of class information."""
    if any(p.classes is not None for p in points):
        raise GanforgeError("points with blended classes cannot be concatenated")
    has_labels = {p.labels is not None for p in points}
    if len(has_labels) != 1:
        raise GanforgeError("cannot mix points with and without labels")
    return Point(torch.cat([p.z for p in points]),
                 torch.cat([p.labels for p in points]) if has_labels == {True} else None,
                 {k: torch.cat([p.codes[k] for p in points]) for k in points[0].codes})


# ------------------------------------------------------------------------------ drawing by seed

def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise GanforgeError(f"seeds must be integers in 0..{MAX_SEED}, got {seed!r}")
    return seed


def seed_points(g, seeds: list[int], labels: int | list[int] | None = None,
                truncation: float | None = None) -> Point:
    """One point per seed: the same input `g.sample(1, seed, label, truncation)` draws.
    `labels`: one class for all, one per seed, or None (each seed draws its own for conditional
    models)."""
    if not seeds:
        raise GanforgeError("give at least one seed")
    if labels is not None and not isinstance(labels, int):
        if len(labels) != len(seeds):
            raise GanforgeError(f"{len(labels)} labels given for {len(seeds)} seeds")
    if labels is not None and not g.conditional:
        raise GanforgeError("labels need a conditional model")
    parts = []
    for i, seed in enumerate(seeds):
        label = labels if labels is None or isinstance(labels, int) else labels[i]
        parts.append(_point(g, g.latent(1, check_seed(seed), labels=label, truncation=truncation)))
    return cat(parts)


def random_points(g, n: int, seed: int = 0, label: int | None = None) -> Point:
    """n points drawn in one batch (as `g.sample(n, seed, label)` draws them)."""
    if label is not None and not g.conditional:
        raise GanforgeError("a class label needs a conditional model")
    return _point(g, g.latent(n, seed=seed, labels=label))


def _point(g, latent: Latent) -> Point:
    # Families draw labels whenever the data has classes; an unconditional generator ignores them.
    labels = latent.labels if g.conditional else None
    return Point(latent.z, labels, dict(latent.codes))


def shifted(point: Point, directions: Tensor, amounts: Tensor) -> Point:
    """Move every point by sum_k amounts[k] * directions[k] in z."""
    step = torch.as_tensor(amounts, dtype=point.z.dtype) @ torch.as_tensor(directions, dtype=point.z.dtype)
    return replace(point, z=point.z + step.to(point.z.device))


def along(point: Point, vector: Tensor, amounts: list[float]) -> Point:
    """A single point moved by each amount along `vector`: len(amounts) points."""
    out = point.repeat(len(amounts))
    steps = torch.as_tensor(amounts, dtype=torch.float64)[:, None] * torch.as_tensor(vector).double()
    out.z += steps.to(out.z)
    return out


# ------------------------------------------------------------------------------ InfoGAN codes

def code_spec(g) -> dict[str, dict]:
    """The run's latent codes (InfoGAN): {name: {"kind": "categorical"|"continuous", "size": k}}.
    A family may describe its codes with `code_spec()` (same form); otherwise they are read from
    1024 draws: integer codes are categorical (size: the largest drawn value + 1), float codes
    whose rows are all one-hot are categorical too, other float codes are continuous."""
    spec = getattr(g.family, "code_spec", None)
    if callable(spec):
        return dict(spec())
    latent = g.latent(1024, seed=0)
    out = {}
    for name, value in latent.codes.items():
        if not value.is_floating_point():
            out[name] = {"kind": "categorical", "size": int(value.max()) + 1}
            continue
        value = value.reshape(len(latent), -1).float()
        onehot = bool(((value == 0) | (value == 1)).all() and (value.sum(1) == 1).all())
        if value.shape[1] > 1 and onehot:
            out[name] = {"kind": "categorical", "size": value.shape[1]}
        else:
            out[name] = {"kind": "continuous", "size": value.shape[1]}
    return out


def with_codes(point: Point, values: dict[str, list[float] | int], spec: dict[str, dict]) -> Point:
    """Set codes for every point: an int class for categorical codes, k floats for continuous."""
    codes = dict(point.codes)
    for name, value in values.items():
        if name not in spec or name not in codes:
            raise GanforgeError(f"unknown code '{name}'; this run has: {', '.join(spec) or 'none'}")
        kind, size = spec[name]["kind"], spec[name]["size"]
        old = codes[name]
        if kind == "categorical":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
                raise GanforgeError(f"code '{name}' is categorical: give a class in 0..{size - 1}")
            if not old.is_floating_point():  # held as class indices
                codes[name] = torch.full_like(old, value)
                continue
            new = torch.zeros(size, dtype=old.dtype, device=old.device)
            new[value] = 1
        else:
            if not isinstance(value, (list, tuple)) or len(value) != size:
                raise GanforgeError(f"code '{name}' is continuous: give {size} value(s)")
            new = torch.tensor([float(v) for v in value], dtype=old.dtype, device=old.device)
        codes[name] = new.view(1, *old.shape[1:]).expand_as(old).clone()
    return replace(point, codes=codes)


# ------------------------------------------------------------------------------ rendering

def class_tables(G: nn.Module) -> list[nn.Module]:
    """The generator's class-embedding tables (see the module docstring)."""
    declared = getattr(G, "class_embeddings", None)
    if callable(declared):
        return list(declared())
    k = getattr(G, "num_classes", 0)
    return [m for m in G.modules() if isinstance(m, nn.Embedding) and m.num_embeddings == k]


@contextlib.contextmanager
def blended_classes(G: nn.Module, blend: ClassBlend):
    """While active, every class-embedding table of G answers with `blend`'s rows."""
    tables = class_tables(G)
    if not tables:
        raise GanforgeError("this generator has no class-embedding table, so classes cannot be "
                            "blended (see ganforge.explore.points)")

    def answer(module, inputs, output):
        rows = blend.rows(module.weight)
        if rows.numel() != output.numel():
            raise GanforgeError("a class-embedding table was called with an unexpected shape")
        return rows.reshape(output.shape).to(output.dtype)

    handles = [t.register_forward_hook(answer) for t in tables]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def render(g, point: Point, batch_size: int = 64) -> Tensor:
    """Generator output for every point ([N, C, H, W] in [-1, 1], or [N, d] points), on the CPU."""
    parts = []
    device = g.device
    with torch.inference_mode():
        for i in range(0, len(point), batch_size):
            part = point.slice(i, i + batch_size)
            codes = {k: v.to(device) for k, v in part.codes.items()}
            if part.classes is None:
                labels = None if part.labels is None else part.labels.to(device)
                out = g.family.generate(g.G, Latent(part.z.to(device), labels, codes))
            else:
                dummy = torch.zeros(len(part), dtype=torch.long, device=device)
                with blended_classes(g.G, part.classes):
                    out = g.family.generate(g.G, Latent(part.z.to(device), dummy, codes))
            parts.append(out.float().cpu())
    return torch.cat(parts)


def one_hot_weights(labels: Tensor, num_classes: int) -> Tensor:
    return torch.nn.functional.one_hot(labels.long().cpu(), num_classes).double()


def simplify(point: Point) -> Point:
    """Blended classes whose rows are all exact one-hot vectors become plain labels."""
    c = point.classes
    if isinstance(c, ClassWeights):
        w = c.weights
        if bool((((w == 0) | (w == 1)).all()) and (w.sum(1) == 1).all()):
            return replace(point, labels=w.argmax(1), classes=None)
    return point
