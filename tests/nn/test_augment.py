"""DiffAugment's transforms (Zhao et al. 2020) and ADA's probability controller (Karras et al. 2020)."""
import itertools

import pytest
import torch

from ganforge.errors import ConfigError
from ganforge.nn.augment import (DiffAugment, brightness, contrast, cutout, parse_policy, saturation,
                                 translation)


def _images(n=6, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _gen(seed=1):
    return torch.Generator().manual_seed(seed)


def _shifted(x, dy, dx):
    """x moved so that output (i, j) = x(i + dy, j + dx), zero outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i, j in itertools.product(range(h), range(w)):
        if 0 <= i + dy < h and 0 <= j + dx < w:
            out[..., i, j] = x[..., i + dy, j + dx]
    return out


def test_translation_moves_each_sample_by_at_most_an_eighth_with_zero_fill():
    x = _images()
    y = translation(x, _gen())
    shifts = set()
    for xs, ys in zip(x, y):
        # Every channel moved by the same (dy, dx), |dy|, |dx| <= 16 / 8 = 2.
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(_shifted(xs, dy, dx), ys)]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 1  # drawn per sample


def test_cutout_zeroes_one_square_of_half_the_size_clipped_at_the_border():
    x = torch.ones(32, 2, 16, 16)
    y = cutout(x, _gen())
    assert torch.equal(y[:, 0], y[:, 1])  # the same square in every channel
    full = 0
    for sample in y[:, 0]:
        rows, cols = torch.nonzero(sample == 0, as_tuple=True)
        assert len(rows) > 0
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(rows) == h * w and h <= 8 and w <= 8  # one rectangle inside an 8x8 square
        full += int(h == 8 and w == 8)
        assert set(sample.unique().tolist()) == {0.0, 1.0}
    assert 0 < full < 32  # whole squares inside the image, clipped ones at the border


def test_colour_transforms_use_the_papers_ranges_per_sample():
    x = _images(n=64)
    offset = brightness(x, _gen()) - x
    per_sample = offset.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-6)
    assert per_sample.min() >= -0.5 and per_sample.max() <= 0.5 and per_sample[:, 0].std() > 0.1
    grey = _images(c=1)
    assert torch.equal(saturation(grey, _gen()), grey)  # one channel: saturation changes nothing
    y = contrast(x, _gen())
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    factor = ((y - mean).flatten(1) / (x - mean).flatten(1)).median(1).values
    assert factor.min() >= 0.5 - 1e-4 and factor.max() <= 1.5 + 1e-4
    assert torch.allclose(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)  # mean kept


def test_policy_is_differentiable_seeded_and_shape_preserving():
    aug = DiffAugment("color,translation,cutout")
    x = _images().requires_grad_(True)
    aug.generator = _gen(5)
    y = aug(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad != 0).float().mean() > 0.3
    aug.generator = _gen(5)
    assert torch.equal(aug(x.detach()), y.detach())  # same stream, same transforms
    aug.generator = _gen(6)
    assert not torch.equal(aug(x.detach()), y.detach())


def test_unknown_policy_names_are_one_line_errors():
    assert parse_policy(" color, cutout ,") == ("color", "cutout")
    assert parse_policy("") == ()
    with pytest.raises(ConfigError, match=r"^unknown train.augment 'flip'; valid: color, translation, cutout$"):
        parse_policy("color,flip")


def test_ada_p_zero_is_the_identity_and_p_one_changes_every_sample():
    aug = DiffAugment("color,translation,cutout", ada_target=0.6)
    assert float(aug.p) == 0.0
    x = _images()
    aug.generator = _gen()
    assert torch.equal(aug(x), x)
    aug.p.fill_(1.0)
    y = aug(x)
    assert all(not torch.equal(a, b) for a, b in zip(x, y))


def test_ada_moves_p_every_four_minibatches_toward_the_target():
    aug = DiffAugment("translation", ada_target=0.6, ada_kimg=1.0)  # 1,000 images from 0 to 1
    for i in range(3):
        aug.observe(torch.tensor(0.9), images=50)  # D overfits: r_t > target
        assert float(aug.p) == 0.0  # not yet: adjusted every 4 minibatches
    aug.observe(torch.tensor(0.9), images=50)
    assert float(aug.p) == pytest.approx(0.2)  # + 4 * 50 / 1000
    for _ in range(4):
        aug.observe(torch.tensor(0.2), images=50)  # r_t < target: less augmentation
    assert float(aug.p) == pytest.approx(0.0)
    for _ in range(4):
        aug.observe(torch.tensor(-1.0), images=50)
    assert float(aug.p) == 0.0  # clamped at 0
    for _ in range(40):
        aug.observe(torch.tensor(1.0), images=50)
    assert float(aug.p) == 1.0  # clamped at 1
    # The window averages its minibatches: 0.9 + 0.9 + 0.1 + 0.1 -> 0.5 < 0.6, p goes down.
    for value in (0.9, 0.9, 0.1, 0.1):
        aug.observe(torch.tensor(value), images=50)
    assert float(aug.p) == pytest.approx(0.8)


def test_without_ada_observe_does_nothing_and_p_is_one():
    aug = DiffAugment("cutout")
    for _ in range(8):
        aug.observe(torch.tensor(1.0), images=64)
    assert float(aug.p) == 1.0
