import math

import numpy as np
import pytest
import torch

from ganforge.errors import DataError
from ganforge.metrics.classifier import DigitClassifier
from ganforge.metrics.extractors import FeatureExtractor
from ganforge.metrics.modes import mode_coverage_2d, reverse_kl_to_uniform, stacked_mnist_modes

RING = np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)
GRID = np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float)


def test_ring_counts_are_exact():
    std = 0.01
    samples = np.array([
        RING[0] + [0.02, 0.0], RING[0], RING[0] - [0.0, 0.029],   # three high-quality at mode 0
        RING[1] + [0.0, 0.029],                                    # one at mode 1
        RING[2] + [0.031, 0.0],                                    # just outside 3 std of mode 2
        [0.0, 0.0],                                                # far from every mode
    ])
    result = mode_coverage_2d(samples, RING, std)
    assert result.modes_captured == 2
    assert result.num_modes == 8
    assert result.high_quality_share == pytest.approx(4 / 6, rel=1e-12)
    np.testing.assert_array_equal(result.counts, [3, 1, 0, 0, 0, 0, 0, 0])
    expected_kl = 0.75 * math.log(8 * 0.75) + 0.25 * math.log(8 * 0.25)
    assert result.reverse_kl == pytest.approx(expected_kl, rel=1e-12)


def test_every_grid_mode_hit_evenly_has_zero_kl():
    samples = np.repeat(GRID, 4, axis=0) + 0.01
    result = mode_coverage_2d(samples, GRID, std=0.05)
    assert (result.modes_captured, result.high_quality_share, result.reverse_kl) == (25, 1.0, 0.0)


def test_reverse_kl_limits():
    assert reverse_kl_to_uniform([5, 0, 0, 0]) == pytest.approx(math.log(4), rel=1e-12)
    assert math.isnan(reverse_kl_to_uniform([0, 0, 0]))
    assert math.isnan(mode_coverage_2d(np.array([[9.0, 9.0]]), RING, 0.01).reverse_kl)


class IntensityDigits(FeatureExtractor):
    """Reads a digit off the image brightness: pixel value 20 * d + 5 means digit d."""

    name, key = "intensity", "intensity"

    def __init__(self):
        super().__init__(torch.nn.Identity())

    def _forward(self, batch_uint8):
        digit = (batch_uint8.float().mean(dim=(1, 2, 3)) // 20).long()
        return batch_uint8.flatten(1).float(), 50.0 * torch.nn.functional.one_hot(digit, 10).float()


def stacked_images(triples):
    values = torch.tensor(triples, dtype=torch.uint8) * 20 + 5
    return values[:, :, None, None].expand(-1, -1, 4, 4).contiguous()


def test_stacked_mnist_counts_digit_triples():
    triples = [(1, 2, 3), (1, 2, 3), (9, 0, 0), (0, 0, 7)]
    result = stacked_mnist_modes(stacked_images(triples), IntensityDigits(), batch_size=3)
    assert result.modes_covered == 3
    assert result.counts[123] == 2 and result.counts[900] == 1 and result.counts[7] == 1
    expected_kl = 0.5 * math.log(1000 * 0.5) + 2 * 0.25 * math.log(1000 * 0.25)
    assert result.reverse_kl == pytest.approx(expected_kl, rel=1e-12)


def test_stacked_mnist_accepts_a_classifier_and_checks_channels():
    images = torch.randint(0, 256, (6, 3, 28, 28), dtype=torch.uint8)
    result = stacked_mnist_modes(images, DigitClassifier())
    assert result.counts.sum() == 6 and result.counts.shape == (1000,)
    with pytest.raises(DataError, match=r"\[N, 3, H, W\]"):
        stacked_mnist_modes(images[:, :1], DigitClassifier())
