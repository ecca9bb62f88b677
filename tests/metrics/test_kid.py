import numpy as np
import pytest

from ganforge.errors import ConfigError
from ganforge.metrics.kid import kid, mmd2_unbiased, polynomial_kernel


def hand_mmd2(x, y):
    """The unbiased MMD^2 written out term by term."""
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return within - 2 * cross


def test_matches_hand_computation_on_tiny_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 0.4
    # With subsets as large as the sets, every subset is a reordering of them: same value each time.
    mean, std = kid(x, y, subsets=4, subset_size=1000)
    assert mean == pytest.approx(hand_mmd2(x, y), rel=1e-12)
    assert std < 1e-12


def test_estimator_is_unbiased_for_equal_distributions():
    rng = np.random.default_rng(1)
    unbiased, biased = [], []
    for _ in range(2000):
        x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
        unbiased.append(mmd2_unbiased(x, y))
        biased.append(polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean()
                      - 2 * polynomial_kernel(x, y).mean())
    standard_error = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * standard_error
    assert np.mean(biased) > 20 * standard_error  # the V-statistic is visibly biased here


def test_identical_sets_near_zero_shifted_sets_clearly_positive():
    x = np.random.default_rng(2).normal(size=(1000, 8))
    diagonal_mean = np.mean(np.diag(polynomial_kernel(x, x)))
    mean, _ = kid(x, x, subsets=5)
    # Leaving out only the diagonal makes identical sets score about -2 (k(x,x) - k(x,y)) / m.
    assert abs(mean) < 2 * diagonal_mean / len(x)
    shifted_mean, _ = kid(x, x + 0.5, subsets=5)
    assert shifted_mean > 1.0


def test_subset_size_is_capped_by_the_smaller_set():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(8, 4))
    mean, std = kid(x, y, subsets=10, subset_size=1000, seed=5)
    again = kid(x, y, subsets=10, subset_size=8, seed=5)
    assert (mean, std) == again
    assert std > 0  # subsets of the larger set differ


def test_rejects_too_few_samples():
    with pytest.raises(ConfigError, match="at least 2"):
        kid(np.zeros((1, 3)), np.zeros((5, 3)))
