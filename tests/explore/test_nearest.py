import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.explore.nearest import memorization, nearest_neighbours


def test_finds_the_planted_neighbours_and_their_distances():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(300, 12))
    planted = rng.permutation(300)[:40]
    offsets = rng.normal(size=(40, 12))
    offsets *= (1e-3 * rng.uniform(0.5, 1.0, size=(40, 1))) / np.linalg.norm(offsets, axis=1, keepdims=True)
    dist, index = nearest_neighbours(reference[planted] + offsets, reference, k=1, chunk=16)
    assert index[:, 0].tolist() == planted.tolist()
    np.testing.assert_allclose(dist[:, 0], np.linalg.norm(offsets, axis=1), rtol=1e-9)


def test_k_neighbours_match_brute_force_and_ties_go_to_the_lower_index():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(200, 5))
    reference[150] = reference[20]  # a duplicate
    queries = rng.normal(size=(30, 5))
    queries[0] = reference[20]
    dist, index = nearest_neighbours(queries, reference, k=4)
    full = np.linalg.norm(queries[:, None] - reference[None], axis=2)
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :4], rtol=1e-12, atol=1e-12)
    assert index[0, :2].tolist() == [20, 150] and dist[0, 0] == 0
    for i in range(1, 30):
        assert index[i].tolist() == np.argsort(full[i], kind="stable")[:4].tolist()


class CopyingGenerator:
    """A 'generator' that returns training images: the memorization check must catch it."""
    device = torch.device("cpu")

    def __init__(self, images_uint8):
        self.images = images_uint8

    def sample(self, n, seed=0):
        return self.images[:n].float() / 127.5 - 1


def test_a_copying_generator_is_caught():
    gen = torch.Generator().manual_seed(0)
    training = torch.randint(0, 256, (400, 1, 8, 8), dtype=torch.uint8, generator=gen)
    report = memorization(CopyingGenerator(training), training, n=50, k=2, seed=5)
    held = set(torch.randperm(400, generator=torch.Generator().manual_seed(5))[:50].tolist())
    copied = [i for i in range(50) if i not in held]  # these fakes are in the reference set
    assert len(copied) > 30
    assert (report.fake_distances[copied, 0] == 0).all()
    assert report.fake_indices[copied, 0].tolist() == copied  # indices into the training set
    assert report.real_distances.min() > 1.0  # random images are far apart
    assert report.copies() == pytest.approx(len(copied) / 50)
    q = report.quantiles()
    assert q["generated"][0] == 0 and q["real"][0] > 1.0
    rows, labels = report.sheet_rows(3)
    assert [tuple(r.shape) for r in rows] == [(3, 1, 8, 8)] * 3
    for i in range(3):  # each row: the sample, then its nearest training images in order
        assert torch.equal(rows[i][0], report.fakes[i])
        assert torch.equal(rows[i][1:], training[report.fake_indices[i]])
    assert "median ratio" in report.summary()


def test_nearest_on_a_trained_run(tiny_g):
    from ganforge.explore.nearest import run_training_data
    training = run_training_data(tiny_g)
    report = memorization(tiny_g, training, n=32, k=3, seed=0)
    assert report.fake_distances.shape == (32, 3) and report.real_distances.shape == (32,)
    assert (np.diff(report.fake_distances, axis=1) >= 0).all()
    # The neighbours really are at the reported pixel distances.
    fake = report.fakes[0].double().flatten() / 255
    near = training[report.fake_indices[0]].double().flatten(1) / 255
    np.testing.assert_allclose((near - fake).norm(dim=1).numpy(), report.fake_distances[0], rtol=1e-9)
    with pytest.raises(GanforgeError):
        memorization(tiny_g, training, n=4, held_out=len(training))
