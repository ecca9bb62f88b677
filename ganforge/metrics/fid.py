"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium"): the Frechet distance between Gaussians fitted to features."""

import warnings

import numpy as np
from scipy import linalg

from ganforge.errors import DataError, GanforgeError
from ganforge.metrics.arrays import as_feature_matrix, as_feature_pair

# Added to both covariance diagonals when the plain matrix square root is not finite.
SQRTM_EPS = 1e-6
# Largest imaginary part of sqrtm(sigma1 @ sigma2) that is still rounding noise.
IMAG_TOLERANCE = 1e-3


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (np.cov, rowvar=False) of features [N, D], in float64."""
    features = as_feature_matrix(features)
    if len(features) < 2:
        raise DataError(f"FID needs at least 2 feature vectors per set, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)) between two Gaussians."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise DataError(f"FID statistics disagree in shape: mu {mu1.shape} vs {mu2.shape}, "
                        f"sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    covmean = _sqrtm_of_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(f_real, f_fake) -> float:
    """FID between two feature sets [N, D] and [M, D] (pool3 features for the standard number)."""
    f_real, f_fake = as_feature_pair(f_real, f_fake)
    mu1, sigma1 = feature_statistics(f_real)
    mu2, sigma2 = feature_statistics(f_fake)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def _sqrtm_of_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    covmean = _quiet_sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Near-singular products (fewer samples than dimensions) can break sqrtm; a tiny ridge
        # changes the distance by O(eps * D) and makes the product well conditioned.
        offset = np.eye(sigma1.shape[0]) * SQRTM_EPS
        covmean = _quiet_sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise GanforgeError("FID: the covariance matrices are degenerate even after adding "
                                f"{SQRTM_EPS} to their diagonals; use more samples")
    if np.iscomplexobj(covmean):
        # The product of two PSD matrices has real non-negative eigenvalues; imaginary parts
        # are rounding noise unless they are large.
        largest = float(np.max(np.abs(covmean.imag)))
        if largest > IMAG_TOLERANCE:
            raise GanforgeError(f"FID: matrix square root has an imaginary part of {largest:.3g}; "
                                "the feature covariances are ill-conditioned (use more samples)")
        covmean = covmean.real
    return covmean


def _quiet_sqrtm(matrix: np.ndarray) -> np.ndarray:
    # Singular covariances are common (dead ReLU features, few samples) and scipy warns about
    # each one; the result is checked above instead, so the warning would only alarm users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return linalg.sqrtm(matrix)
