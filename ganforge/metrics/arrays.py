"""Validation shared by the metrics: feature sets arrive as float64 matrices [N, D]."""

import numpy as np

from ganforge.errors import DataError


def as_feature_matrix(features, what: str = "features") -> np.ndarray:
    """Features as a float64 array [N, D]; a clear DataError for any other shape or NaNs."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise DataError(f"{what} must be a 2-D array [N, D], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise DataError(f"{what} contain NaN or infinite values")
    return array


def as_feature_pair(f_real, f_fake) -> tuple[np.ndarray, np.ndarray]:
    """Real and fake features as float64 matrices with the same feature dimension."""
    real = as_feature_matrix(f_real, "real features")
    fake = as_feature_matrix(f_fake, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise DataError(f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    return real, fake
