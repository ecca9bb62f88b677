"""k-nearest-neighbour manifold metrics: precision and recall (Kynkaanniemi et al. 2019, "Improved
Precision and Recall Metric for Assessing Generative Models") and density and coverage (Naeem et al.
2020, "Reliable Fidelity and Diversity Metrics for Generative Models").

A set's manifold is the union of balls around its samples, each with the radius of the distance to
that sample's k-th nearest neighbour within the set. Distances are computed in row blocks, so two
sets of 10k samples need only `block_rows` x 10k distances in memory at a time."""

import numpy as np

from ganforge.errors import ConfigError
from ganforge.metrics.arrays import as_feature_pair

# Rows per distance block: 512 x 10,000 float64 distances = 41 MB.
BLOCK_ROWS = 512


def precision_recall(f_real, f_fake, k: int = 3, block_rows: int = BLOCK_ROWS) -> tuple[float, float]:
    """Precision: share of fake samples inside the real manifold.
    Recall: share of real samples inside the fake manifold."""
    real, fake = as_feature_pair(f_real, f_fake)
    _check_k(k, real, fake)
    real_radii = kth_neighbour_sq_radii(real, k, block_rows)
    fake_radii = kth_neighbour_sq_radii(fake, k, block_rows)
    precision = _balls_containing(fake, real, real_radii, block_rows) > 0
    recall = _balls_containing(real, fake, fake_radii, block_rows) > 0
    return float(precision.mean()), float(recall.mean())


def density_coverage(f_real, f_fake, k: int = 5, block_rows: int = BLOCK_ROWS) -> tuple[float, float]:
    """Density: mean over fakes of the number of real balls containing them, divided by k
    (about 1 when the distributions match; can exceed 1).
    Coverage: share of real samples whose ball contains at least one fake."""
    real, fake = as_feature_pair(f_real, f_fake)
    _check_k(k, real, fake)
    real_radii = kth_neighbour_sq_radii(real, k, block_rows)
    density = _balls_containing(fake, real, real_radii, block_rows).sum() / (k * len(fake))
    nearest_fake = np.concatenate([
        _sq_distances(real[i:i + block_rows], fake).min(axis=1) for i in range(0, len(real), block_rows)
    ])
    coverage = nearest_fake <= real_radii
    return float(density), float(coverage.mean())


def kth_neighbour_sq_radii(points: np.ndarray, k: int, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point in the same set."""
    # Each row's own zero distance is the smallest, so index k of the sorted row is the k-th neighbour.
    # The copy lets each block be freed (a column view would keep all of them alive).
    return np.concatenate([
        np.partition(_sq_distances(points[i:i + block_rows], points), k, axis=1)[:, k].copy()
        for i in range(0, len(points), block_rows)
    ])


def _balls_containing(queries: np.ndarray, centres: np.ndarray, sq_radii: np.ndarray, block_rows: int) -> np.ndarray:
    """For each query, how many balls (centre, radius) contain it."""
    return np.concatenate([
        (_sq_distances(queries[i:i + block_rows], centres) <= sq_radii[None, :]).sum(axis=1)
        for i in range(0, len(queries), block_rows)
    ])


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # ||a||^2 + ||b||^2 - 2 a.b is one matrix product; clip the small negatives rounding leaves.
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(sq, 0.0)


def _check_k(k: int, real: np.ndarray, fake: np.ndarray) -> None:
    if k < 1 or k >= min(len(real), len(fake)):
        raise ConfigError(f"k-NN metrics need 1 <= k < number of samples per set, got k={k} "
                          f"with {len(real)} real and {len(fake)} fake")
