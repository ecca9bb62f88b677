"""ganforge.load from a run directory, a checkpoint folder or a weights file."""
import shutil

import pytest
import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.training import checkpoint as ckpt
from tests.conftest import TINY_DCGAN


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sets = TINY_DCGAN + ["train.steps=4", "train.ckpt_every=2", "train.keep_ckpts=5"]
    return api.train(resolve("dcgan", sets), out=tmp_path_factory.mktemp("locate") / "run")


def test_every_kind_of_path_loads_the_same_generator(run):
    first, last = ckpt.checkpoint_dirs(run)
    samples = api.load(run).sample(4, seed=1)
    assert torch.equal(api.load(last).sample(4, seed=1), samples)
    assert torch.equal(api.load(last / ckpt.WEIGHTS).sample(4, seed=1), samples)
    older = api.load(first)  # a checkpoint folder loads that checkpoint, not the newest
    assert older.step == 2 and not torch.equal(older.sample(4, seed=1), samples)
    assert api.load(first / ckpt.WEIGHTS).step == 2


def test_a_weights_file_with_its_config_beside_it(run, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS, folder / "g.safetensors")
    with pytest.raises(CheckpointError, match="no config.json beside"):
        api.load(folder / "g.safetensors")
    shutil.copy(run / "config.json", folder / "config.json")
    with pytest.raises(CheckpointError, match="no data shape"):
        api.load(folder / "g.safetensors")
    shutil.copy(run / "data.json", folder / "data.json")
    assert torch.equal(api.load(folder / "g.safetensors").sample(3, seed=2), api.load(run).sample(3, seed=2))


def test_a_tampered_weights_file_is_refused(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    weights = ckpt.checkpoint_dirs(copy)[-1] / ckpt.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the hash"):
        api.load(weights)


def test_missing_paths_are_one_line(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        api.load(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="neither a run directory"):
        api.load(tmp_path)
