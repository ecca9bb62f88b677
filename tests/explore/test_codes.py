"""InfoGAN codes in the explore tools, on an untrained InfoGAN generator (no training needed)."""
import pytest
import torch

from ganforge.api import LoadedGenerator
from ganforge.config import resolve
from ganforge.errors import GanforgeError
from ganforge.explore.arithmetic import arithmetic
from ganforge.explore.points import code_spec, render, seed_points, with_codes
from ganforge.families import Latent
from ganforge.training.build import build_components

from ..conftest import TINY_DCGAN


@pytest.fixture(scope="module")
def infogan():
    cfg = resolve("infogan", TINY_DCGAN)
    parts = build_components(cfg, (1, 16, 16), 10, seed=0)
    return LoadedGenerator(cfg, parts.G.eval(), parts.family, (1, 16, 16), 10, 0,
                           torch.device("cpu"), None)


def test_codes_are_described_and_set(infogan):
    spec = code_spec(infogan)
    assert spec == {"cat": {"kind": "categorical", "size": 10}, "cont": {"kind": "continuous", "size": 2}}
    p = with_codes(seed_points(infogan, [1, 2, 3]), {"cat": 7, "cont": [0.5, -1.5]}, spec)
    assert p.codes["cat"].tolist() == [7, 7, 7]
    assert p.codes["cont"].tolist() == [[0.5, -1.5]] * 3
    # Rendering passes the codes through the family exactly as sampling does.
    want = infogan.family.generate(infogan.G, Latent(p.z, None, p.codes))
    torch.testing.assert_close(render(infogan, p), want.detach(), atol=1e-6, rtol=0)
    other = render(infogan, with_codes(p, {"cat": 2}, spec))
    assert (other - want).abs().max() > 1e-4  # the code reaches the generator


def test_bad_codes_are_errors(infogan):
    spec = code_spec(infogan)
    p = seed_points(infogan, [1])
    for values in ({"cat": 10}, {"cont": [1.0]}, {"style": 1}, {"cat": 1.5}):
        with pytest.raises(GanforgeError):
            with_codes(p, values, spec)


def test_arithmetic_keeps_continuous_codes_as_vectors(infogan):
    spec = code_spec(infogan)
    a = with_codes(seed_points(infogan, [1, 2]), {"cont": [1.0, 0.0], "cat": 4}, spec)
    b = with_codes(seed_points(infogan, [3]), {"cont": [0.0, 1.0], "cat": 4}, spec)
    c = with_codes(seed_points(infogan, [4]), {"cont": [0.5, 0.5], "cat": 6}, spec)
    r = arithmetic(a, b, c)
    torch.testing.assert_close(r.codes["cont"], torch.tensor([[1.5, -0.5]]))
    assert r.codes["cat"].tolist() == [6]  # 4 - 4 + 6
