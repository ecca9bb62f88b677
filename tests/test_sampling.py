"""Writing samples: formats and one-line errors."""
import numpy as np
import pytest

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import GanforgeError
from ganforge.sampling import write_samples
from tests.conftest import TINY_DCGAN


@pytest.fixture(scope="module")
def g(tmp_path_factory):
    return api.load(api.train(resolve("dcgan", TINY_DCGAN + ["train.steps=1"]),
                              out=tmp_path_factory.mktemp("sampling") / "run"))


def test_npz_holds_the_uint8_samples(g, tmp_path):
    out = write_samples(g, 5, seed=2, out=tmp_path / "s.npz", fmt="npz")
    with np.load(out) as f:
        samples = f["samples"]
    assert samples.dtype == np.uint8 and samples.shape == (5, 1, 16, 16)
    assert len(list(write_samples(g, 3, 0, tmp_path / "dir", fmt="png-dir").iterdir())) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "-n must be between"),
    ({"fmt": "gif"}, "unknown format"),
    ({"class_grid": True}, "--class-grid needs a conditional model"),
    ({"labels": [1]}, "--labels needs a conditional model"),
])
def test_bad_requests_are_one_line_errors(g, tmp_path, kwargs, message):
    args = {"n": 4, "seed": 0, "out": tmp_path / "x.png", **kwargs}
    with pytest.raises(GanforgeError, match=message):
        write_samples(g, **args)
