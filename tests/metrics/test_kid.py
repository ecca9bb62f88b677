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
    assert mmd2_unbiased(x, y) == pytest.approx(hand_mmd2(x, y), rel=1e-12)
    # One subset of 4 drawn from each: KID is the MMD^2 of exactly those rows.
    mean, std = kid(x, y, subsets=1, subset_size=4, seed=7)
    pick = np.random.default_rng(7)
    rows_x, rows_y = pick.choice(5, 4, replace=False), pick.choice(5, 4, replace=False)
    assert mean == pytest.approx(hand_mmd2(x[rows_x], y[rows_y]), rel=1e-12) and std == 0


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


def test_small_sets_use_half_their_size_and_say_so():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(500, 4)), rng.normal(size=(500, 4)) + 0.3
    with pytest.warns(UserWarning, match="500 samples per set .* subset size 1000; using subsets of 250"):
        mean, std = kid(x, y, subsets=20, seed=5)
    # Before: every subset was the whole set and the deviation read ~1e-16 whatever the model.
    assert std > 1e-3 * abs(mean)
    assert (mean, std) == kid(x, y, subsets=20, subset_size=250, seed=5)  # no note at 250 < 500
    with pytest.warns(UserWarning, match="8 samples per set"):
        assert kid(rng.normal(size=(30, 4)), y[:8], subsets=5)[1] > 0


def test_rejects_too_few_samples():
    with pytest.raises(ConfigError, match="at least 4 samples per set"):
        kid(np.zeros((3, 3)), np.zeros((5, 3)))
