import numpy as np
import pytest
import torch
from torch import nn

from ganforge.api import LoadedGenerator
from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.explore.directions import (brightness, fit_attribute_direction, fit_linear, ink,
                                         load_directions, principal_directions, run_directions,
                                         save_directions)
from ganforge.explore.points import Point, along, random_points, render
from ganforge.families import FAMILIES
from ganforge.models import Generator


def test_ridge_fit_recovers_a_linear_attribute():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 8))
    v = rng.normal(size=8)
    v /= np.linalg.norm(v)
    y = 2.0 * z @ v + 0.5 + 0.01 * rng.normal(size=3000)
    w, b = fit_linear(z, y, ridge=1.0)
    assert np.dot(w / np.linalg.norm(w), v) > 1 - 1e-6
    assert np.linalg.norm(w) == pytest.approx(2.0, rel=2e-3) and b[0] == pytest.approx(0.5, abs=2e-3)
    # Per-group intercepts absorb group offsets without bending the direction.
    groups = np.eye(3)[rng.integers(0, 3, size=3000)]
    w2, b2 = fit_linear(z, y + groups @ np.array([0.0, 5.0, -5.0]), groups, ridge=1.0)
    assert np.dot(w2 / np.linalg.norm(w2), v) > 1 - 1e-6
    np.testing.assert_allclose(b2, [0.5, 5.5, -4.5], atol=5e-3)


def test_attributes_measure_what_they_say():
    dark, half = -torch.ones(1, 1, 4, 4), -torch.ones(1, 1, 4, 4)
    half[..., :2, :] = 1.0  # top half white
    assert brightness(dark).item() == 0 and brightness(half).item() == 0.5
    faint = torch.full((1, 3, 4, 4), -0.1)  # intensity 0.45: below the ink threshold
    assert ink(half).item() == 0.5 and ink(faint).item() == 0 and brightness(faint).item() == pytest.approx(0.45)


def test_direction_moves_the_attribute_in_the_fitted_sign(tiny_g):
    d = fit_attribute_direction(tiny_g, "brightness", n=512, label=3)
    assert d.scores[0] > 0.2  # held-out R^2: a line explains a good part of it within a class
    fresh = random_points(tiny_g, 64, seed=99, label=3)
    v = torch.from_numpy(d.vectors[0])
    change = torch.stack([brightness(render(tiny_g, along(fresh.slice(i, i + 1), v, [-1.0, 1.0])))
                          for i in range(64)])
    rise = change[:, 1] - change[:, 0]
    assert (rise > 0).double().mean() >= 0.9
    # and by about what the fit predicts (two unit steps of `slope`)
    assert rise.mean().item() == pytest.approx(2 * d.slopes[0], rel=0.25)
    falling = d.vectors[0] * -1
    back = torch.stack([brightness(render(tiny_g, along(fresh.slice(i, i + 1), torch.from_numpy(falling), [-1.0, 1.0])))
                        for i in range(64)])
    assert ((back[:, 1] - back[:, 0]) < 0).double().mean() >= 0.9


class LinearGenerator(Generator):
    """G(z) = tanh-free linear map to a 1x4x4 image: its Jacobian is the matrix itself."""

    def __init__(self, matrix):
        super().__init__(matrix.shape[1], 0, "none")
        self.map = nn.Linear(matrix.shape[1], matrix.shape[0], bias=False)
        self.map.weight.data.copy_(matrix)

    def forward(self, z, labels=None):
        return self.map(z).view(len(z), 1, 4, 4)


def _loaded(G):
    family = FAMILIES["gan"]()
    family.setup(G, None, 0)
    G.noise_dim = G.z_dim
    return LoadedGenerator(Config(), G.eval(), family, (1, 4, 4), 0, 0, torch.device("cpu"), None)


def test_principal_directions_are_the_jacobians_leading_singular_vectors():
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(16, 6, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    sigma = torch.tensor([3.0, 2.0, 1.5, 1.0, 0.5, 0.1], dtype=torch.float64)
    g = _loaded(LinearGenerator((u * sigma) @ v.T))
    d = principal_directions(g, k=3, n=8)
    np.testing.assert_allclose(d.scores, (sigma[:3] ** 2).numpy(), rtol=1e-5)
    cosines = np.abs((torch.from_numpy(d.vectors).double() @ v[:, :3]).diagonal().numpy())
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-6)


def _mean_sq_change(g, start, vec, h=0.05):
    base = render(g, start)
    moved = render(g, Point(start.z + h * vec.float(), start.labels))
    return ((moved - base).pow(2).sum() / h ** 2 / len(start)).item()


def test_principal_directions_on_a_trained_run_change_the_image_most(tiny_g):
    d = principal_directions(tiny_g, k=2, n=16, seed=0, label=3)
    assert d.scores[0] >= d.scores[1] > 0
    pc0 = torch.from_numpy(d.vectors[0])
    # The eigenvalue is the mean squared output change per unit step at the samples it came from.
    assert _mean_sq_change(tiny_g, random_points(tiny_g, 16, seed=0, label=3), pc0) == pytest.approx(
        d.scores[0], rel=0.1)
    # On fresh samples of the class it still moves the image more than random directions do.
    fresh = random_points(tiny_g, 16, seed=5, label=3)
    gen = torch.Generator().manual_seed(0)
    randoms = [r / r.norm() for r in torch.randn(4, tiny_g.G.noise_dim, generator=gen)]
    assert _mean_sq_change(tiny_g, fresh, pc0) > 1.5 * max(_mean_sq_change(tiny_g, fresh, r) for r in randoms)


def test_directions_round_trip_through_the_run_dir(tmp_path, tiny_g):
    d = principal_directions(tiny_g, k=2, n=4)
    path = save_directions(tmp_path, d)
    assert path == tmp_path / "directions" / "principal.npz"
    back = load_directions(path)
    np.testing.assert_array_equal(back.vectors, d.vectors.astype(np.float32))
    assert back.names == ["pc0", "pc1"] and back.kind == "principal" and back.attribute == "principal"
    assert [x.name for x in run_directions(tmp_path)] == ["principal"]
    (tmp_path / "directions" / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(GanforgeError, match="not a directions file"):
        run_directions(tmp_path)


def test_unknown_attribute_is_an_error(tiny_g):
    with pytest.raises(GanforgeError, match="unknown attribute"):
        fit_attribute_direction(tiny_g, "smile", n=32)
    with pytest.raises(GanforgeError, match="--classifier"):
        fit_attribute_direction(tiny_g, "class:3", n=32)
