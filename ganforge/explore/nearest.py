"""Memorization check (Radford et al. 2015 show generated samples beside their nearest training
images): find each generated sample's nearest training images in a feature space, and compare the
generated-to-training distances with real-to-training distances of held-out real images. A model
that copies its training set puts generated samples much closer to it than fresh real images are.

Features: raw pixels (intensities in [0, 1], Euclidean distance) or a feature extractor from
ganforge.metrics by name (`inception`, `classifier:PATH`). Held-out reals are taken from the
training set itself (drawn at random, then left out of the reference set), so both distance
distributions are measured against the same reference images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import run
from ..errors import GanforgeError
from ..images import to_uint8
from ..metrics import get_extractor

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def nearest_neighbours(queries: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor,
                       k: int = 1, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean k nearest reference rows for each query row, in float64: (distances [M, k]
    ascending, indices [M, k]). Ties go to the lower index."""
    q = torch.as_tensor(np.asarray(queries, dtype=np.float64)).reshape(len(queries), -1)
    r = torch.as_tensor(np.asarray(reference, dtype=np.float64)).reshape(len(reference), -1)
    if q.shape[1] != r.shape[1]:
        raise GanforgeError(f"queries have {q.shape[1]} features and references {r.shape[1]}")
    if not 1 <= k <= len(r):
        raise GanforgeError(f"k must be in 1..{len(r)}")
    dists, index = [], []
    r_sq = (r * r).sum(1)
    for i in range(0, len(q), chunk):
        block = q[i:i + chunk]
        # |q - r|^2 expanded, then the k smallest recomputed exactly from the differences.
        approx = (block * block).sum(1, keepdim=True) - 2 * block @ r.T + r_sq
        candidates = torch.topk(approx, min(len(r), k + 8), dim=1, largest=False).indices
        exact = (block[:, None, :] - r[candidates]).norm(dim=2)
        order = np.lexsort((candidates.numpy(), exact.numpy()), axis=1)[:, :k]
        dists.append(np.take_along_axis(exact.numpy(), order, 1))
        index.append(np.take_along_axis(candidates.numpy(), order, 1))
    return np.concatenate(dists), np.concatenate(index)


def pixel_features(images_uint8: torch.Tensor) -> np.ndarray:
    return images_uint8.reshape(len(images_uint8), -1).double().numpy() / 255.0


@dataclass
class NearestReport:
    features: str                  # which feature space
    fake_distances: np.ndarray     # [n_fake, k] to the reference set
    fake_indices: np.ndarray       # [n_fake, k] into the training set
    real_distances: np.ndarray     # [n_real] held-out real -> reference nearest distance
    fakes: torch.Tensor            # generated samples (uint8 images or points)
    training: torch.Tensor         # the training set (uint8 images or points)

    def quantiles(self) -> dict[str, list[float]]:
        return {"generated": np.quantile(self.fake_distances[:, 0], QUANTILES).tolist(),
                "real": np.quantile(self.real_distances, QUANTILES).tolist()}

    def copies(self) -> float:
        """Share of generated samples nearer to the training set than the closest 1% of held-out
        reals: candidates for memorised images."""
        return float((self.fake_distances[:, 0] < np.quantile(self.real_distances, 0.01)).mean())

    def summary(self) -> str:
        q = self.quantiles()
        head = "  ".join(f"q{int(p * 100):02d}" .rjust(9) for p in QUANTILES)
        lines = [f"nearest-neighbour distances to the training set ({self.features})",
                 f"{'':<22}{head}"]
        for name, label in (("generated", f"generated (n={len(self.fake_distances)})"),
                             ("real", f"held-out real (n={len(self.real_distances)})")):
            lines.append(f"{label:<22}" + "  ".join(f"{v:9.4f}" for v in q[name]))
        ratio = q["generated"][2] / q["real"][2] if q["real"][2] > 0 else float("nan")
        lines.append(f"median ratio generated/real: {ratio:.3f}; generated nearer than the closest 1% "
                     f"of real: {100 * self.copies():.1f}%")
        return "\n".join(lines)

    def sheet_rows(self, rows: int = 8) -> tuple[list[torch.Tensor], list[str]]:
        """Each row: a generated sample, then its nearest training images."""
        if self.fakes.dim() != 4:
            raise GanforgeError("nearest-neighbour sheets need image data")
        out = []
        for i in range(min(rows, len(self.fakes))):
            out.append(torch.cat([self.fakes[i:i + 1], self.training[self.fake_indices[i]]]))
        return out, [f"d={self.fake_distances[i, 0]:.2f}" for i in range(len(out))]


def features_of(data: torch.Tensor, features: str, device: str = "cpu") -> np.ndarray:
    if data.dim() == 2:  # points are their own features
        if features != "pixels":
            raise GanforgeError("point data is compared in its own coordinates: use --features pixels")
        return data.double().numpy()
    if features == "pixels":
        return pixel_features(data)
    return get_extractor(features, device).extract(data)[0]


def memorization(g, training: torch.Tensor, n: int = 256, k: int = 3, held_out: int | None = None,
                 features: str = "pixels", seed: int = 0) -> NearestReport:
    """Generated samples vs held-out reals, both against the rest of the training set.
    `training`: uint8 images [N, C, H, W] or float points [N, d]."""
    held_out = n if held_out is None else held_out
    if n < 1 or held_out < 1 or held_out >= len(training):
        raise GanforgeError(f"need 1 <= n and 1 <= held-out reals < {len(training)} training samples")
    perm = torch.randperm(len(training), generator=torch.Generator().manual_seed(seed))
    held, rest = perm[:held_out], perm[held_out:]
    fakes = g.sample(n, seed=seed)
    fakes = to_uint8(fakes) if fakes.dim() == 4 else fakes.double()
    train_data = training if training.dim() == 4 else training.double()
    ref = features_of(train_data[rest], features, str(g.device))
    fake_d, fake_i = nearest_neighbours(features_of(fakes, features, str(g.device)), ref, k)
    real_d, _ = nearest_neighbours(features_of(train_data[held], features, str(g.device)), ref, 1)
    return NearestReport(features, fake_d, rest.numpy()[fake_i], real_d[:, 0], fakes, train_data)


def run_training_data(g) -> torch.Tensor:
    """The run's training set as configured (uint8 images or float points)."""
    data = run.dataset(g.cfg)
    return data.points if hasattr(data, "points") else data.images
