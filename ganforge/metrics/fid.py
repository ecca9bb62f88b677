"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium"): the Frechet distance between Gaussians fitted to features."""

import numpy as np

from ganforge.errors import DataError, GanforgeError
from ganforge.metrics.arrays import as_feature_matrix, as_feature_pair

# Eigenvalues of sigma1^(1/2) sigma2 sigma1^(1/2) below -NEGATIVE_TOLERANCE x tr(sigma1) tr(sigma2)
# are not rounding noise: the matrices were not covariances (positive semi-definite).
NEGATIVE_TOLERANCE = 1e-6


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (np.cov, rowvar=False) of features [N, D], in float64."""
    features = as_feature_matrix(features)
    if len(features) < 2:
        raise DataError(f"FID needs at least 2 feature vectors per set, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


class RunningStatistics:
    """Mean and covariance of feature batches added one at a time, in float64, without keeping
    the features (an evaluation of n samples holds D x D numbers instead of n x D). The sums are
    taken around the first batch's mean, which keeps the covariance as exact as np.cov's two
    passes (raw sums of squares would cancel digits when the mean is large)."""

    def __init__(self):
        self.count, self.shift, self.total, self.products = 0, None, None, None

    def add(self, features) -> None:
        x = as_feature_matrix(features)
        if self.shift is None:
            self.shift = x.mean(axis=0)
            self.total, self.products = np.zeros_like(self.shift), np.zeros((x.shape[1],) * 2)
        elif x.shape[1] != self.shift.shape[0]:
            raise DataError(f"feature batches differ in dimension: {x.shape[1]} vs {self.shift.shape[0]}")
        x = x - self.shift
        self.total += x.sum(axis=0)
        self.products += x.T @ x
        self.count += len(x)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, unbiased covariance), as feature_statistics computes them from all features."""
        if self.count < 2:
            raise DataError(f"FID needs at least 2 feature vectors per set, got {self.count}")
        mean = self.total / self.count
        sigma = (self.products - self.count * np.outer(mean, mean)) / (self.count - 1)
        return self.shift + mean, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)) between two Gaussians."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise DataError(f"FID statistics disagree in shape: mu {mu1.shape} vs {mu2.shape}, "
                        f"sigma {sigma1.shape} vs {sigma2.shape}")
    for name, array in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.isfinite(array).all():
            raise DataError(f"FID statistics contain NaN or infinite values ({name})")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))


def fid_from_features(f_real, f_fake) -> float:
    """FID between two feature sets [N, D] and [M, D] (pool3 features for the standard number)."""
    f_real, f_fake = as_feature_pair(f_real, f_fake)
    mu1, sigma1 = feature_statistics(f_real)
    mu2, sigma2 = feature_statistics(f_fake)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for covariance matrices.

    With sigma1 = A A^T (A = V diag(sqrt(w)) from sigma1's eigendecomposition), sigma1 sigma2 has
    the eigenvalues of the symmetric PSD matrix A^T sigma2 A, so the trace is the sum of their
    square roots: two symmetric eigendecompositions instead of the general matrix square root
    (scipy.linalg.sqrtm, a complex Schur form) that FID code usually calls. At D = 2048 that is
    several times faster; it needs no ridge for singular covariances (fewer samples than
    dimensions, dead features) and has no imaginary parts to drop."""
    sigma1, sigma2 = _symmetric(sigma1), _symmetric(sigma2)
    w, V = np.linalg.eigh(sigma1)
    A = V * np.sqrt(np.clip(w, 0.0, None))
    eigenvalues = np.linalg.eigvalsh(_symmetric(A.T @ sigma2 @ A))
    # For PSD matrices every eigenvalue lies in [0, tr(sigma1) tr(sigma2)]; rounding stays far
    # inside NEGATIVE_TOLERANCE of that bound.
    bound = abs(float(np.trace(sigma1)) * float(np.trace(sigma2)))
    if min(eigenvalues.min(), w.min()) < -NEGATIVE_TOLERANCE * bound:
        raise GanforgeError("FID: the statistics' covariance matrices are not positive semi-definite "
                            "(they were not computed as covariances of features)")
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    # eigh reads one triangle only: average out the rounding asymmetry of X^T X.
    return (matrix + matrix.T) / 2.0
