import math

import pytest
import torch

from ganforge.data import PointDataset, load_dataset
from ganforge.errors import DataError


def test_ring8_modes_lie_on_the_unit_circle():
    data = load_dataset("ring8", toy_samples=20_000)
    assert isinstance(data, PointDataset) and data.std == 0.01 and data.num_classes == 0
    assert data.modes.shape == (8, 2)
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    expected = torch.stack([angles.cos(), angles.sin()], dim=1).float()
    torch.testing.assert_close(data.modes, expected)


def test_grid25_modes_cover_the_grid():
    data = load_dataset("grid25", toy_samples=20_000)
    assert data.std == 0.05 and data.modes.shape == (25, 2)
    coords = {(float(x), float(y)) for x, y in data.modes}
    assert coords == {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_points_are_gaussians_around_their_mode(name):
    data = load_dataset(name, toy_samples=20_000, seed=3)
    assert data.points.shape == (20_000, 2) and data.points.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    offsets = (data.points - data.modes[data.labels]) / data.std
    assert offsets.abs().max() < 6  # 6 std: p ~ 1e-9 per coordinate
    # The noise has the stated spread (not 0, not a different std).
    assert 0.97 < offsets.std().item() < 1.03
    assert abs(offsets.mean().item()) < 0.03
    # Modes are drawn uniformly: every mode gets close to its 1/M share.
    counts = torch.bincount(data.labels, minlength=len(data.modes)).double()
    share = counts / counts.sum()
    assert (share - 1 / len(data.modes)).abs().max() < 0.2 / len(data.modes)


def test_toy_samples_are_reproducible_by_seed():
    first, again = load_dataset("ring8", toy_samples=1000, seed=7), load_dataset("ring8", toy_samples=1000, seed=7)
    other = load_dataset("ring8", toy_samples=1000, seed=8)
    assert torch.equal(first.points, again.points) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.points, other.points)


def test_toy_samples_must_be_positive():
    with pytest.raises(DataError, match="toy_samples"):
        load_dataset("grid25", toy_samples=0)
