import numpy as np
import pytest
from scipy import linalg

from ganforge.errors import DataError, GanforgeError
from ganforge.metrics import fid as fid_module
from ganforge.metrics.fid import (RunningStatistics, feature_statistics, fid_from_features, frechet_distance,
                                  trace_sqrt_product)

MU1, MU2 = np.array([0.0, 1.0, 2.0, -1.0]), np.array([0.5, 1.0, 1.0, -1.0])
VAR1, VAR2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 1.0, 0.5, 3.0])


def diagonal_closed_form(mu1, var1, mu2, var2):
    return np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))


def test_diagonal_gaussians_match_closed_form():
    expected = diagonal_closed_form(MU1, VAR1, MU2, VAR2)
    assert frechet_distance(MU1, np.diag(VAR1), MU2, np.diag(VAR2)) == pytest.approx(expected, rel=1e-12)


def test_full_covariances_match_symmetric_eigenvalue_form():
    # tr sqrt(S1 S2) = sum of sqrt eigenvalues of S1^(1/2) S2 S1^(1/2), a symmetric PSD matrix.
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    root = linalg.sqrtm(s1).real
    trace_sqrt = np.sqrt(np.linalg.eigvalsh(root @ s2 @ root)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_sample_fid_approaches_closed_form():
    rng = np.random.default_rng(0)
    real = rng.normal(MU1, np.sqrt(VAR1), size=(50_000, 4))
    fake = rng.normal(MU2, np.sqrt(VAR2), size=(50_000, 4))
    # Over repeated draws the sample FID at this size has a standard deviation of about 0.018.
    assert fid_from_features(real, fake) == pytest.approx(diagonal_closed_form(MU1, VAR1, MU2, VAR2), abs=0.08)


def test_identical_sets_score_zero():
    features = np.random.default_rng(2).normal(size=(500, 16))
    assert abs(fid_from_features(features, features)) < 1e-8


def test_statistics_are_mean_and_unbiased_covariance():
    features = np.random.default_rng(3).normal(size=(50, 3))
    mu, sigma = feature_statistics(features)
    centred = features - features.mean(axis=0)
    np.testing.assert_allclose(mu, features.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-12)


def test_fewer_samples_than_dimensions_stays_finite_and_accurate():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32)) + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1).real
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    # Both square roots of rank-deficient matrices lose digits; they agree to about 1e-4.
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-3)


def test_trace_matches_scipy_sqrtm_of_the_product():
    # The usual FID code: the general matrix square root of sigma1 @ sigma2, real part.
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 48)), rng.normal(size=(300, 48)) @ rng.normal(size=(48, 48)) * 0.3
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = np.trace(linalg.sqrtm(s1 @ s2).real)
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-10)


def test_not_positive_semidefinite_is_an_error():
    indefinite = np.diag([1.0, -0.5, 2.0, 1.0])
    with pytest.raises(GanforgeError, match="positive semi-definite"):
        frechet_distance(MU1, indefinite, MU2, np.diag(VAR2))
    with pytest.raises(GanforgeError, match="positive semi-definite"):
        frechet_distance(MU1, np.diag(VAR2), MU2, indefinite)


def test_non_finite_statistics_are_data_errors():
    with pytest.raises(DataError, match="NaN"):
        frechet_distance(MU1, np.diag([1.0, np.nan, 1.0, 1.0]), MU2, np.diag(VAR2))


def test_mismatched_inputs_are_data_errors():
    with pytest.raises(DataError, match="dimension"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(DataError, match="at least 2"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(DataError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_running_statistics_match_all_features_at_once():
    rng = np.random.default_rng(6)
    features = rng.normal(size=(301, 5)) * [1.0, 2.0, 0.5, 3.0, 1.0] + 1000.0  # a large mean
    running = RunningStatistics()
    for start, stop in ((0, 64), (64, 65), (65, 200), (200, 301)):  # uneven batches, one of size 1
        running.add(features[start:stop])
    mu, sigma = running.statistics()
    expected_mu, expected_sigma = feature_statistics(features)
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-14)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-10)
    with pytest.raises(DataError, match="dimension"):
        running.add(np.zeros((2, 4)))
    with pytest.raises(DataError, match="at least 2"):
        RunningStatistics().statistics()
