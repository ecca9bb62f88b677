import tracemalloc

import numpy as np
import pytest

from ganforge.errors import ConfigError
from ganforge.metrics.manifold import density_coverage, kth_neighbour_sq_radii, precision_recall


@pytest.fixture(scope="module")
def unit_square():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(2000, 2)), rng.uniform(size=(2000, 2))


def test_radii_are_kth_neighbour_distances():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(kth_neighbour_sq_radii(points, 1), np.array([1, 1, 2, 4]) ** 2)
    np.testing.assert_allclose(kth_neighbour_sq_radii(points, 2), np.array([3, 2, 3, 6]) ** 2)


def test_identical_sets_have_full_precision_and_recall():
    x = np.random.default_rng(1).normal(size=(300, 5))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_disjoint_sets_have_zero_precision_and_recall():
    rng = np.random.default_rng(2)
    assert precision_recall(rng.normal(size=(300, 5)), rng.normal(size=(300, 5)) + 100) == (0.0, 0.0)


def test_fakes_in_a_corner_are_precise_but_recall_little(unit_square):
    real, _ = unit_square
    corner = np.random.default_rng(3).uniform(0, 0.3, size=(2000, 2))
    precision, recall = precision_recall(real, corner)
    assert precision > 0.9   # fakes lie inside the real support
    assert recall < 0.2      # the corner is 9% of the square, plus a thin margin of balls


def test_blocked_computation_equals_single_block(unit_square):
    real, fake = unit_square[0][:500], unit_square[1][:400]
    assert precision_recall(real, fake, block_rows=7) == precision_recall(real, fake, block_rows=10_000)
    assert density_coverage(real, fake, block_rows=7) == density_coverage(real, fake, block_rows=10_000)


def test_density_of_identical_sets_counts_each_ball_k_plus_one_times():
    # Every real ball holds its own centre and its k neighbours: k + 1 fakes each.
    x = np.random.default_rng(4).normal(size=(300, 3))
    density, coverage = density_coverage(x, x, k=5)
    assert density == pytest.approx(6 / 5, rel=1e-12)
    assert coverage == 1.0


def test_same_distribution_density_near_one_coverage_near_theory(unit_square):
    real, fake = unit_square
    density, coverage = density_coverage(real, fake, k=5)
    assert density == pytest.approx(1.0, abs=0.05)
    # Naeem et al.: with as many fakes as reals, expected coverage is about 1 - 2^-k.
    assert coverage == pytest.approx(1 - 0.5 ** 5, abs=0.02)


def test_disjoint_density_and_coverage_are_zero():
    rng = np.random.default_rng(5)
    assert density_coverage(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 50) == (0.0, 0.0)


def test_k_must_be_smaller_than_the_sets():
    with pytest.raises(ConfigError, match="k-NN"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


def test_memory_stays_within_a_few_blocks():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(1500, 16)), rng.normal(size=(1500, 16))
    tracemalloc.start()
    try:
        precision_recall(real, fake, block_rows=50)
        density_coverage(real, fake, block_rows=50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One 50 x 1500 float64 block is 0.6 MB; the full distance matrix would be 18 MB.
    assert peak < 6e6
