"""Directions in z that control the output, found without labels at training time.

Attribute directions: draw many z, measure an attribute of each sample (brightness, ink, a
classifier's probability for a class) and fit the attribute as a linear function of z by ridge
regression; the direction is the unit vector along the fitted weights, so moving along it raises
the attribute by `slope` per unit step (under the linear fit; held-out R^2 says how well a line
describes it). For conditional models, one-hot class columns join the regression, so the direction
explains what z does within a class rather than which class was drawn; since z often acts
differently per class (the base generator multiplies z by the class embedding), `label` fits
within one class, which gives the sharper direction for conditional models.

Principal directions: the leading eigenvectors of the mean Jacobian Gram matrix
E_z[J(z)^T J(z)], where J is the Jacobian of the generator's output (pixels) with respect to z.
These are the unit moves in z that change the image most on average, and the eigenvalue is the
mean squared change of the output per unit step (Ramesh et al. 2018, "A Spectral Regularizer for
Unsupervised Disentanglement", study these leading singular directions of the Jacobian). We use
the Jacobian rather than a PCA of output features because it measures the latent-to-image map
itself, locally and exactly (forward-mode differentiation, one pass per latent dimension).

Saved as directions/NAME.npz in the run directory: `vectors` [K, D] unit rows, `names` [K],
`scores` [K] (held-out R^2 or eigenvalues), `slopes` [K], `kind`, `attribute`.
"""
from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD

from .. import run, safe_files
from ..errors import GanforgeError
from ..images import to_uint8
from ..io import atomic_write_bytes
from ..metrics import get_extractor
from ..nn.latent import Latent
from .points import Point, along, one_hot_weights, random_points, render, seed_points

Tensor = torch.Tensor
INK_THRESHOLD = 0.5
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# ------------------------------------------------------------------------------ attributes

def _intensity(images: Tensor) -> Tensor:
    if images.dim() != 4:
        raise GanforgeError("image attributes need image samples, not points")
    return (images.float().clamp(-1, 1) + 1) / 2  # [0, 1]


def brightness(images: Tensor) -> Tensor:
    """Mean intensity in [0, 1] over all pixels and channels."""
    return _intensity(images).mean(dim=(1, 2, 3)).double()


def ink(images: Tensor) -> Tensor:
    """Share of pixels whose intensity (mean over channels) is above 0.5: for light strokes on a
    dark ground (MNIST) the inked area, which grows with stroke thickness."""
    return (_intensity(images).mean(1) > INK_THRESHOLD).double().mean(dim=(1, 2))


ATTRIBUTES = {"brightness": brightness, "ink": ink}


def attribute_function(name: str, classifier: str | None = None, device: str = "cpu"):
    """A function images [N, C, H, W] in [-1, 1] -> [N] float64, by name: brightness, ink, or
    class:K (the probability of class K under the classifier `classifier`, an extractor name
    such as classifier:PATH)."""
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    match = re.fullmatch(r"class:(\d+)", name)
    if match:
        if not classifier:
            raise GanforgeError(f"attribute {name} needs --classifier (e.g. classifier:PATH)")
        extractor = get_extractor(classifier if ":" in classifier else f"classifier:{classifier}", device)
        k = int(match.group(1))

        def probability(images: Tensor) -> Tensor:
            _, probs = extractor.extract(to_uint8(images))
            if k >= probs.shape[1]:
                raise GanforgeError(f"the classifier has {probs.shape[1]} classes; class {k} does not exist")
            return torch.from_numpy(probs[:, k])
        return probability
    raise GanforgeError(f"unknown attribute '{name}'; use {', '.join(ATTRIBUTES)} or class:K")


def file_name(attribute: str) -> str:
    """class:3@7 -> class-3-c7: safe as a file name and as an id in the explorer."""
    return attribute.replace(":", "-").replace("@", "-c")


# ------------------------------------------------------------------------------ the saved form

@dataclass
class Directions:
    kind: str                   # "attribute" | "principal"
    attribute: str              # the attribute name, or "principal"
    vectors: np.ndarray         # [K, D] unit rows
    names: list[str]
    scores: np.ndarray          # [K]: held-out R^2 (attribute) or eigenvalue (principal)
    slopes: np.ndarray          # [K]: attribute change per unit step (attribute); sqrt(eigenvalue)
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return file_name(self.attribute)


def save_directions(run_dir: str | Path, d: Directions) -> Path:
    path = run.directions_dir(run_dir) / f"{d.name}.npz"
    buf = io.BytesIO()
    np.savez(buf, vectors=d.vectors.astype(np.float32), names=np.array(d.names, dtype=str),
             scores=d.scores.astype(np.float64), slopes=d.slopes.astype(np.float64),
             kind=np.array(d.kind), attribute=np.array(d.attribute),
             **{k: np.asarray(v) for k, v in d.extra.items()})
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_directions(path: str | Path) -> Directions:
    try:
        with np.load(path, allow_pickle=False) as f:
            known = {"vectors", "names", "scores", "slopes", "kind", "attribute"}
            d = Directions(str(f["kind"]), str(f["attribute"]), f["vectors"].astype(np.float32),
                           [str(n) for n in f["names"]], f["scores"], f["slopes"],
                           {k: f[k] for k in f.files if k not in known})
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise GanforgeError(f"{path} is not a directions file: {e}") from None
    if d.vectors.ndim != 2 or len(d.names) != len(d.vectors):
        raise GanforgeError(f"{path} is not a directions file: malformed arrays")
    return d


def run_directions(run_dir: str | Path) -> list[Directions]:
    """Every directions file saved in a run, sorted by name."""
    folder = run.directions_dir(run_dir)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.npz"))
    for p in paths:  # regular files inside the run only (a FIFO would block np.load forever)
        safe_files.regular_file_inside(p, run_dir, MAX_DIRECTIONS_FILE)
    return [load_directions(p) for p in paths]


MAX_DIRECTIONS_FILE = 256 << 20


# ------------------------------------------------------------------------------ fitting

def fit_linear(z: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
               ridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression y ~ z w + (intercept, or one intercept per group column); only w is
    penalised. Returns (w [D], intercepts)."""
    n, dim = z.shape
    offsets = np.ones((n, 1)) if groups is None else groups
    x = np.concatenate([z, offsets], axis=1)
    penalty = np.zeros((dim, x.shape[1]))
    penalty[:, :dim] = np.sqrt(ridge) * np.eye(dim)
    coef, *_ = np.linalg.lstsq(np.concatenate([x, penalty]), np.concatenate([y, np.zeros(dim)]),
                               rcond=None)
    return coef[:dim], coef[dim:]


def r_squared(y: np.ndarray, predicted: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else 0.0


def fit_attribute_direction(g, attribute: str, n: int = 2000, seed: int = 0, ridge: float = 1.0,
                            classifier: str | None = None, holdout: float = 0.2,
                            label: int | None = None) -> Directions:
    """The unit direction in z along which `attribute` grows, from n samples (see module doc).
    `label`: conditional models only, fit within that class. How z acts often depends on the class
    (the base generator multiplies z by the class embedding, which can flip the sign of each
    coordinate's effect), so per-class directions are the sharper tool there."""
    if n < 20:
        raise GanforgeError("fit a direction on at least 20 samples")
    measure = attribute_function(attribute, classifier, str(g.device))
    point = random_points(g, n, seed, label)
    y = np.concatenate([measure(render(g, point.slice(i, i + 256))).numpy()
                        for i in range(0, n, 256)])
    z = point.z.double().cpu().numpy()
    groups = None if point.labels is None else one_hot_weights(point.labels, g.num_classes).numpy()
    n_fit = n - max(1, int(n * holdout))
    w, b = fit_linear(z[:n_fit], y[:n_fit], None if groups is None else groups[:n_fit], ridge)
    held = slice(n_fit, n)
    offsets = b[0] if groups is None else groups[held] @ b
    r2 = r_squared(y[held], z[held] @ w + offsets)
    norm = float(np.linalg.norm(w))
    if norm == 0:
        raise GanforgeError(f"'{attribute}' does not vary with z on these samples")
    name = attribute if label is None else f"{attribute}@{label}"
    extra = {"n": n, "attribute_std": float(y.std())} | ({} if label is None else {"label": label})
    return Directions("attribute", name, (w / norm)[None], [name], np.array([r2]),
                      np.array([norm]), extra)


def jacobian_gram(g, point: Point, chunk: int = 4) -> np.ndarray:
    """E[J^T J] over the points (float64 [D, D]), J the Jacobian of the flattened output w.r.t. z,
    by forward-mode differentiation: one tangent per latent dimension, `chunk` points at a time."""
    dim = point.z.shape[1]
    gram = torch.zeros(dim, dim, dtype=torch.float64)
    basis = torch.eye(dim, device=g.device)
    with warnings.catch_warnings(), torch.no_grad(), fwAD.dual_level():
        # torch registers its forward-mode decompositions with torch.jit.script on first use,
        # which warns that TorchScript is deprecated: torch's business, not the user's.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
        for i in range(0, len(point), chunk):
            part = point.slice(i, i + chunk)
            m = len(part)
            z = part.z.to(g.device).repeat(dim, 1)                 # block k: all m points
            tangent = basis.repeat_interleave(m, dim=0)            # block k: direction e_k
            labels = None if part.labels is None else part.labels.to(g.device).repeat(dim)
            codes = {k: v.to(g.device).repeat(dim, *[1] * (v.dim() - 1)) for k, v in part.codes.items()}
            out = g.family.generate(g.G, Latent(fwAD.make_dual(z, tangent), labels, codes))
            jvp = fwAD.unpack_dual(out).tangent
            if jvp is None:
                raise GanforgeError("the generator's output does not depend on z")
            jvp = jvp.reshape(dim, m, -1).double().cpu()           # [k, point, output]
            gram += torch.einsum("kip,lip->kl", jvp, jvp)
    return (gram / len(point)).numpy()


def principal_directions(g, k: int = 5, n: int = 64, seed: int = 0,
                         label: int | None = None) -> Directions:
    """The k leading eigenvectors of E[J^T J] estimated on n samples (see module doc); `label`:
    conditional models only, within that class."""
    dim = g.G.noise_dim
    if not 1 <= k <= dim:
        raise GanforgeError(f"k must be in 1..{dim}")
    gram = jacobian_gram(g, random_points(g, n, seed, label))
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:k]
    values, vectors = values[order], vectors[:, order].T
    # An eigenvector's sign is arbitrary: make its largest entry positive, for reproducible files.
    signs = np.sign(vectors[np.arange(k), np.abs(vectors).argmax(1)])
    vectors = vectors * signs[:, None]
    name = "principal" if label is None else f"principal@{label}"
    extra = {"n": n} | ({} if label is None else {"label": label})
    return Directions("principal", name, vectors, [f"pc{i}" for i in range(k)], values,
                      np.sqrt(np.maximum(values, 0)), extra)


# ------------------------------------------------------------------------------ sheets

def direction_rows(g, d: Directions, seeds: list[int], amounts: list[float],
                   truncation: float | None = None, label: int | None = None
                   ) -> tuple[list[Tensor], list[str]]:
    """For each direction and seed, one row: the seed moved by each amount along the direction."""
    rows, labels = [], []
    start = seed_points(g, seeds, None if label is None else int(label), truncation=truncation)
    for vec, name in zip(d.vectors, d.names):
        for i, seed in enumerate(seeds):
            rows.append(render(g, along(start.slice(i, i + 1), torch.from_numpy(vec), amounts)))
            labels.append(f"{name} seed {seed}")
    return rows, labels
