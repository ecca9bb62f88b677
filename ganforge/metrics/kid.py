"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased MMD^2
estimate with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets."""

import warnings

import numpy as np

from ganforge.errors import ConfigError
from ganforge.metrics.arrays import as_feature_pair


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y / d + 1)^3 for every pair of rows: the kernel KID is defined with."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-size samples x, y [m, d] (Gretton et al. 2012, eq. 3):
    within-set kernel means leave out the diagonal (i == j), the cross term uses all m^2 pairs."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def subset_size_for(n_real: int, n_fake: int, subset_size: int) -> int:
    """The subset size KID uses. When the smaller set is no larger than `subset_size`, every
    subset of it would be the whole set: all subsets agree and the standard deviation reads 0
    whatever the model. Half the smaller set is used instead, with a note saying so."""
    n = min(n_real, n_fake)
    if subset_size < n:
        return subset_size
    if n < 4:
        raise ConfigError(f"KID needs at least 4 samples per set (got {n_real} real, {n_fake} fake): "
                          "subsets of at least 2 that differ from each other")
    m = n // 2
    warnings.warn(f"KID: {n} samples per set are not more than the subset size {subset_size}; "
                  f"using subsets of {m} (half the set) so that subsets differ and kid_std means "
                  "something. Evaluate more samples for the standard subset size.")
    return m


def kid(f_real, f_fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of mmd2_unbiased over `subsets` random subsets, each drawn
    without replacement, of `subset_size` rows (fewer for small sets: see subset_size_for)."""
    real, fake = as_feature_pair(f_real, f_fake)
    if subsets < 1:
        raise ConfigError(f"KID needs subsets >= 1, got {subsets}")
    m = subset_size_for(len(real), len(fake), subset_size)
    rng = np.random.default_rng(seed)
    values = np.array([
        mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                      fake[rng.choice(len(fake), m, replace=False)])
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std())
