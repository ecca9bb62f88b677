"""The Python surface: train / load / sample, reproducible by seed whatever the batch size."""
import pytest
import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import GanforgeError
from tests.conftest import TINY_DCGAN


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    plain = api.train(resolve("dcgan", TINY_DCGAN + ["train.steps=2"]), runs_root=root)
    cond = api.train(resolve("cgan", TINY_DCGAN + ["train.steps=2"]), runs_root=root)
    return plain, cond


def test_runs_are_numbered_under_the_runs_root_and_refuse_to_overwrite(runs, tmp_path):
    plain, cond = runs
    assert (plain.name, cond.name) == ("dcgan-001", "cgan-001")
    with pytest.raises(GanforgeError, match="already holds a run"):
        api.train(resolve("dcgan", TINY_DCGAN + ["train.steps=1"]), out=plain)


def test_samples_do_not_depend_on_the_batch_size(runs):
    g = api.load(runs[0])
    a = g.sample(10, seed=4)
    assert a.shape == (10, 1, 16, 16) and a.abs().max() <= 1
    torch.testing.assert_close(a, g.sample(10, seed=4, batch_size=3), rtol=1e-5, atol=1e-6)
    assert not torch.equal(a, g.sample(10, seed=5))


def test_labels_of_a_conditional_generator(runs):
    g = api.load(runs[1])
    assert g.conditional and g.num_classes == 10
    latent = g.latent(4, labels=7)
    assert latent.labels.tolist() == [7] * 4
    with pytest.raises(GanforgeError, match="labels must be in 0..9"):
        g.sample(2, labels=[0, 10])
    with pytest.raises(GanforgeError, match="3 labels given for 2 samples"):
        g.sample(2, labels=[0, 1, 2])


def test_truncation_bounds_the_latent(runs):
    z = api.load(runs[0]).latent(200, seed=1, truncation=0.5).z
    assert z.abs().max() <= 0.5
