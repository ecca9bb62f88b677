import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.explore.arithmetic import arithmetic, combine, group_mean, jittered
from ganforge.explore.points import ClassWeights, Point, render, seed_points


def _group(rows, labels=None, **codes):
    return Point(torch.tensor(rows, dtype=torch.float32),
                 None if labels is None else torch.tensor(labels), {k: torch.tensor(v) for k, v in codes.items()})


def test_arithmetic_combines_group_means():
    a = _group([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]], cont=[[0.0], [0.3], [0.6]])
    b = _group([[0.0, 1.0], [2.0, 1.0]], cont=[[1.0], [0.0]])
    c = _group([[10.0, -10.0]], cont=[[0.2]])
    r = arithmetic(a, b, c)
    assert len(r) == 1 and r.classes is None and r.labels is None
    # mean(a) = (3, 2), mean(b) = (1, 1), c = (10, -10): (3 - 1 + 10, 2 - 1 - 10)
    torch.testing.assert_close(r.z, torch.tensor([[12.0, -9.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(r.codes["cont"], torch.tensor([[0.3 - 0.5 + 0.2]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(group_mean(b).z, torch.tensor([[1.0, 1.0]]))


def test_class_arithmetic_works_on_embeddings(tiny_g):
    k = tiny_g.num_classes
    a = seed_points(tiny_g, [1, 2], [3, 5])
    b = seed_points(tiny_g, [3], [5])
    c = seed_points(tiny_g, [4, 5], [8, 8])
    r = arithmetic(a, b, c, num_classes=k)
    expected = torch.zeros(1, k, dtype=torch.float64)
    expected[0, 3], expected[0, 5], expected[0, 8] = 0.5, 0.5 - 1.0, 1.0
    assert isinstance(r.classes, ClassWeights)
    torch.testing.assert_close(r.classes.weights, expected)
    z = a.z.mean(0) - b.z.mean(0) + c.z.mean(0)
    torch.testing.assert_close(r.z[0], z, atol=1e-6, rtol=0)
    G = tiny_g.G
    with torch.no_grad():
        want = G.net((z[None] * (expected.float() @ G.label_embedding.weight)).view(1, -1, 1, 1))
    torch.testing.assert_close(render(tiny_g, r), want, atol=1e-6, rtol=0)


def test_one_hot_results_become_plain_labels(tiny_g):
    a = seed_points(tiny_g, [1, 2], [6, 6])
    r = arithmetic(a, a, a, num_classes=tiny_g.num_classes)  # classes: 6 - 6 + 6 = one-hot 6
    assert r.classes is None and r.labels.tolist() == [6]
    torch.testing.assert_close(render(tiny_g, r), render(tiny_g, Point(r.z, torch.tensor([6]))))


def test_index_codes_keep_the_strongest_class():
    a = _group([[0.0]] * 3, cat=[2, 2, 4])
    b = _group([[0.0]], cat=[4])
    c = _group([[0.0]] * 2, cat=[1, 4])
    # one-hot sums: class 2: 2/3, class 4: 1/3 - 1 + 1/2, class 1: 1/2 -> class 2
    assert combine([(1.0, a), (-1.0, b), (1.0, c)]).codes["cat"].tolist() == [2]


def test_jitter_adds_bounded_uniform_noise_to_all_but_the_first():
    p = _group([[1.0, -1.0, 0.5]])
    out = jittered(p, 50, scale=0.25, seed=3)
    assert torch.equal(out.z[0], p.z[0])
    delta = out.z[1:] - p.z
    assert delta.abs().max() <= 0.25 and delta.abs().max() > 0.2 and delta.std() > 0.1


def test_group_sizes_are_bounded():
    empty = _group([[0.0]])
    too_many = _group([[0.0]] * 17)
    with pytest.raises(GanforgeError, match="group b"):
        arithmetic(empty, too_many, empty)
