import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.explore.interpolation import fractions, interpolate, interpolation_rows
from ganforge.explore.points import (ClassPath, ClassWeights, Point, class_tables, render,
                                     seed_points)


def _single(z, label=None, **codes):
    return Point(torch.as_tensor(z, dtype=torch.float32)[None],
                 None if label is None else torch.tensor([label]), {k: v[None] for k, v in codes.items()})


@pytest.mark.parametrize("spherical", [False, True])
def test_endpoints_equal_the_endpoint_samples(tiny_g, spherical):
    a, b = (3, 1), (17, 7)  # (seed, class)
    path = interpolate(*[seed_points(tiny_g, [s], [c]) for s, c in (a, b)], steps=6, spherical=spherical)
    images = render(tiny_g, path)
    first = tiny_g.sample(1, seed=a[0], labels=[a[1]])
    last = tiny_g.sample(1, seed=b[0], labels=[b[1]])
    assert images.shape == (6, *first.shape[1:])
    torch.testing.assert_close(images[0], first[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(images[-1], last[0], atol=1e-5, rtol=0)
    # The inside of the path differs from both ends (something was interpolated).
    assert (images[2] - first[0]).abs().max() > 1e-3 and (images[2] - last[0]).abs().max() > 1e-3


def test_lerp_is_a_straight_line_with_exact_ends():
    a, b = _single([1.0, -2.0, 0.5]), _single([3.0, 2.0, -1.5])
    path = interpolate(a, b, steps=5)
    assert torch.equal(path.z[0], a.z[0]) and torch.equal(path.z[-1], b.z[0])
    torch.testing.assert_close(path.z[2], (a.z[0] + b.z[0]) / 2, atol=1e-7, rtol=0)
    torch.testing.assert_close(path.z[1], 0.75 * a.z[0] + 0.25 * b.z[0], atol=1e-7, rtol=0)


def test_slerp_keeps_norms_that_lerp_loses():
    gen = torch.Generator().manual_seed(0)
    za, zb = torch.randn(2, 64, generator=gen)
    zb = zb * za.norm() / zb.norm()  # equal norms
    s = interpolate(_single(za), _single(zb), steps=9, spherical=True).z
    torch.testing.assert_close(s.norm(dim=1), za.norm().expand(9), atol=0, rtol=1e-6)
    torch.testing.assert_close(s[-1], zb, atol=1e-6, rtol=0)
    straight = interpolate(_single(za), _single(zb), steps=9).z
    assert straight[4].norm() < 0.9 * za.norm()  # a straight line cuts through the middle


def test_classes_blend_in_embedding_space(tiny_g):
    """Blended classes give G exactly the blended embedding vectors (multiply conditioning)."""
    G = tiny_g.G
    table = G.label_embedding.weight.detach()
    assert class_tables(G) == [G.label_embedding]
    z = torch.randn(3, G.noise_dim, generator=torch.Generator().manual_seed(1))
    weights = torch.tensor([[0.5] + [0.0] * 6 + [0.5, 0.0, 0.0],
                            [1.2] + [0.0] * 2 + [-0.2] + [0.0] * 6,
                            [0.0] * 9 + [1.0]], dtype=torch.float64)
    got = render(tiny_g, Point(z, None, {}, ClassWeights(weights)))
    with torch.no_grad():
        want = G.net((z * (weights.float() @ table)).view(3, -1, 1, 1))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_class_path_blends_per_table_and_slerp_keeps_row_norms():
    table = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    table = table / table.norm(dim=1, keepdim=True) * 3.0
    t = fractions(5)
    path = ClassPath(torch.tensor([0] * 5), torch.tensor([2] * 5), t, spherical=True)
    rows = path.rows(table)
    torch.testing.assert_close(rows.norm(dim=1), torch.full((5,), 3.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(rows[0], table[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(rows[-1], table[2], atol=1e-6, rtol=0)
    linear = ClassPath(torch.tensor([0] * 5), torch.tensor([2] * 5), t).rows(table)
    torch.testing.assert_close(linear[2], (table[0] + table[2]) / 2, atol=1e-6, rtol=0)


def test_codes_interpolate_linearly_and_indices_switch_half_way():
    a = _single([0.0, 0.0], cont=torch.tensor([-1.0, 0.5]), cat=torch.tensor(2))
    b = _single([1.0, 1.0], cont=torch.tensor([1.0, 0.5]), cat=torch.tensor(7))
    path = interpolate(a, b, steps=5)
    torch.testing.assert_close(path.codes["cont"][:, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert path.codes["cont"][:, 1].eq(0.5).all()
    assert path.codes["cat"].tolist() == [2, 2, 7, 7, 7]


def test_same_class_keeps_plain_labels_and_bad_requests_fail(tiny_g):
    ends = seed_points(tiny_g, [1, 2], [4, 4])
    path = interpolate(ends.slice(0, 1), ends.slice(1, 2), steps=3)
    assert path.classes is None and path.labels.tolist() == [4, 4, 4]
    with pytest.raises(GanforgeError, match="steps"):
        interpolate(ends.slice(0, 1), ends.slice(1, 2), steps=1)
    with pytest.raises(GanforgeError, match="two seeds"):
        interpolation_rows(tiny_g, [1], steps=4)
    rows = interpolation_rows(tiny_g, [1, 2, 3], steps=4, labels=[0, 1, 2])
    assert [tuple(r.shape) for r in rows] == [(4, 1, 16, 16)] * 2


@pytest.mark.parametrize("shared", [True, False])
def test_class_interpolation_is_generic_over_embedding_tables(shared):
    """BigGAN's generator has one shared class embedding or one table per block: both blend."""
    from ganforge.api import LoadedGenerator
    from ganforge.config import resolve
    from ganforge.training.build import build_components
    cfg = resolve("biggan-mnist", ["generator.width=8", "discriminator.width=8",
                                   f"generator.shared_embedding={str(shared).lower()}"])
    parts = build_components(cfg, (1, 32, 32), 10, seed=0)
    g = LoadedGenerator(cfg, parts.G.eval(), parts.family, (1, 32, 32), 10, 0, torch.device("cpu"), None)
    assert len(class_tables(g.G)) == (1 if shared else 3)
    ends = seed_points(g, [1, 2], [3, 7])
    images = render(g, interpolate(ends.slice(0, 1), ends.slice(1, 2), steps=5, spherical=True))
    torch.testing.assert_close(images[0], g.sample(1, seed=1, labels=[3])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(images[-1], g.sample(1, seed=2, labels=[7])[0], atol=1e-5, rtol=0)
    # Half-way with z held fixed, only the class blend moves the picture.
    mid = Point(ends.z[:1], None, {}, ClassWeights(torch.eye(10, dtype=torch.float64)[[3]] * 0.5
                                                    + torch.eye(10, dtype=torch.float64)[[7]] * 0.5))
    half = render(g, mid)
    assert (half - render(g, Point(ends.z[:1], torch.tensor([3])))).abs().max() > 1e-3
    assert (half - render(g, Point(ends.z[:1], torch.tensor([7])))).abs().max() > 1e-3
