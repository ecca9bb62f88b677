"""A tiny conditional DCGAN trained once for the explore tests (same code path as users)."""
import pytest

from ganforge import api
from ganforge.config import resolve

from ..conftest import TINY_DCGAN

# Conditional (class picker, class blending); a higher learning rate so 30 steps already give a
# generator whose output depends on z and class.
TINY_CONDITIONAL = TINY_DCGAN + [
    "train.steps=30", "train.ckpt_every=30", "train.sample_every=30",
    "generator.conditioning=multiply", "discriminator.conditioning=projection",
    "optim.g_lr=1e-3", "optim.d_lr=1e-3",
]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    return api.train(resolve("dcgan", TINY_CONDITIONAL), out=tmp_path_factory.mktemp("explore") / "run")


@pytest.fixture(scope="session")
def tiny_g(tiny_run):
    return api.load(tiny_run)
