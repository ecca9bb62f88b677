"""The one convention between pixels and model values: uint8 0..255 <-> floats in [-1, 1]."""
import numpy as np
import torch

from ganforge.images import from_uint8, grid_image, make_grid, to_uint8


def test_uint8_round_trip_is_exact_and_ends_map_to_ends():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    values = from_uint8(pixels)
    assert values.dtype == torch.float32 and values.min() == -1 and values.max() == 1
    assert torch.equal(to_uint8(values), pixels)


def test_to_uint8_rounds_and_clamps_and_floats_pass_through_from_uint8():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.004, 1.0, 3.0])
    assert to_uint8(x).tolist() == [0, 0, 128, 128, 255, 255]  # 127.5 rounds to even: 128
    points = torch.randn(4, 2)
    assert from_uint8(points) is points


def test_grids_accept_model_values_or_pixels():
    images = torch.rand(5, 1, 4, 4) * 2 - 1
    grid = make_grid(images, nrow=3)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 6 + 2, 3 * 6 + 2)
    assert np.array_equal(grid, make_grid(to_uint8(images), nrow=3))
    assert grid_image(images).size[0] > 0
