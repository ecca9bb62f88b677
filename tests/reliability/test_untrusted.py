"""Untrusted files never run code: a crafted pickle is refused wherever ganforge reads a file that
could hold one, and the marker file its payload would write never appears.

CIFAR batches (the restricted unpickler) are covered in tests/data/test_safe_pickle.py; here:
checkpoints (state.pt through torch.load(weights_only=True), weights in safetensors), the
Inception weights file, and NumPy files (allow_pickle=False). Each test also shows that its
payload is live, by running it where code execution is allowed on purpose.
"""
import hashlib
import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ganforge import api
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.errors import CheckpointError, DataError
from ganforge.metrics.inception import load_inception
from ganforge.run import checkpoints_dir
from ganforge.training import checkpoint as ckpt

from .tiny import train


class WritesAMarker:
    """Unpickling this runs exec, which writes a file: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('pwned')",)


def _payload_is_live(path, marker):
    """Load the file the unsafe way (what we must never do) to show the payload really works."""
    assert not marker.exists()
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"
    marker.unlink()


def _rehash(folder):
    """What an attacker who rewrites a checkpoint also does: make meta.json match the new files."""
    meta = json.loads((folder / ckpt.META).read_text())
    meta["sha256"] = {name: ckpt.sha256_file(folder / name) for name in (ckpt.WEIGHTS, ckpt.STATE)}
    (folder / ckpt.META).write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train(tmp_path_factory.mktemp("untrusted"), "run", "train.steps=4")


@pytest.fixture
def run(trained, tmp_path):
    import shutil
    return shutil.copytree(trained, tmp_path / "run")


def test_malicious_state_with_a_stale_hash_is_skipped_for_the_previous_checkpoint(run, tmp_path):
    marker = tmp_path / "marker"
    newest = ckpt.checkpoint_dirs(run)[-1]
    torch.save({"opt_g": WritesAMarker(marker)}, newest / ckpt.STATE)
    with pytest.warns(UserWarning, match="state.pt does not match its recorded hash"):
        _, _, meta, path = ckpt.load_latest(run)
    assert meta["step"] == 2 and not marker.exists()
    _payload_is_live(newest / ckpt.STATE, marker)


def test_malicious_state_with_a_matching_hash_is_refused_by_weights_only(run, tmp_path):
    marker = tmp_path / "marker"
    newest = ckpt.checkpoint_dirs(run)[-1]
    torch.save({"opt_g": WritesAMarker(marker), "step": 4}, newest / ckpt.STATE)
    _rehash(newest)
    ckpt.verify(newest)  # the hashes match: only weights_only stands in the way
    with pytest.raises(CheckpointError) as caught:
        ckpt.load_checkpoint(newest)
    assert str(caught.value) == (f"{newest / ckpt.STATE} cannot be loaded safely: it refers to exec, which is "
                                 "not plain data (refused; nothing was run)")
    assert not marker.exists()
    _payload_is_live(newest / ckpt.STATE, marker)


def test_resume_from_only_malicious_checkpoints_is_one_line_and_runs_nothing(run, tmp_path, capsys):
    marker = tmp_path / "marker"
    for folder in ckpt.checkpoint_dirs(run):
        torch.save({"opt_g": WritesAMarker(marker)}, folder / ckpt.STATE)
        _rehash(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: no readable checkpoint in {checkpoints_dir(run)}"
    assert not marker.exists()
    # Sampling reads only the safetensors weights, so the run stays usable for that.
    assert api.load(run).sample(2).shape == (2, 1, 16, 16) and not marker.exists()


def test_a_pickle_in_place_of_the_weights_is_refused(run, tmp_path):
    marker = tmp_path / "marker"
    newest = ckpt.checkpoint_dirs(run)[-1]
    (newest / ckpt.WEIGHTS).write_bytes(pickle.dumps(WritesAMarker(marker)))
    _rehash(newest)
    with pytest.raises(CheckpointError, match=r"weights\.safetensors cannot be loaded: "):
        ckpt.load_checkpoint(newest)
    assert not marker.exists()


def test_resume_from_a_state_without_the_trainer_keys_is_a_checkpoint_error(run):
    newest = ckpt.checkpoint_dirs(run)[-1]
    state = ckpt.load_checkpoint(newest)[1]
    torch.save({k: v for k, v in state.items() if k != "noise_rng"}, newest / ckpt.STATE)
    _rehash(newest)
    with pytest.raises(CheckpointError):
        api.resume(run, {"train": {"steps": 6}})


def test_malicious_inception_weights_with_the_expected_hash_are_refused(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "pt_inception.pth"
    torch.save({"fc.weight": WritesAMarker(marker)}, path)
    with pytest.raises(CheckpointError, match="cannot load Inception weights"):
        load_inception(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert not marker.exists()
    _payload_is_live(path, marker)


@pytest.mark.parametrize("name", ["images.npy", "images.npz"])
def test_pickled_object_arrays_in_numpy_files_are_refused(tmp_path, name):
    marker = tmp_path / "marker"
    objects = np.empty(4, dtype=object)
    objects[:] = [WritesAMarker(marker)] * 4
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, objects, allow_pickle=True)
    else:
        np.savez(path, images=objects)
    with pytest.raises(DataError, match=name):
        load_dataset(str(path))
    assert not marker.exists()
    loaded = np.load(path, allow_pickle=True)  # the unsafe way runs the payload
    if name.endswith(".npz"):
        loaded["images"]
    assert marker.exists()


def test_a_bare_pickle_named_npy_is_refused(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "images.npy"
    path.write_bytes(pickle.dumps(WritesAMarker(marker)))
    with pytest.raises(DataError, match="images.npy"):
        load_dataset(str(path))
    assert not marker.exists()


# ---------------------------------------------------------------- arbitrary checkpoint files

@pytest.fixture(scope="module")
def checkpoint_files(trained):
    newest = ckpt.checkpoint_dirs(trained)[-1]
    return {name: (newest / name).read_bytes() for name in (ckpt.WEIGHTS, ckpt.STATE, ckpt.META)}


@st.composite
def damaged(draw, original: bytes):
    """Random bytes, or the real file cut short and/or with bytes overwritten."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=2048))
    cut = draw(st.integers(0, len(original))) if draw(st.booleans()) else len(original)
    data = bytearray(original[:cut])
    for _ in range(draw(st.integers(0, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), which=st.sampled_from([ckpt.WEIGHTS, ckpt.STATE, ckpt.META]))
def test_any_checkpoint_file_content_loads_or_is_a_checkpoint_error(tmp_path_factory, checkpoint_files, data, which):
    folder = tmp_path_factory.mktemp("fuzz") / "checkpoints" / "step-00000004"
    folder.mkdir(parents=True)
    for name, content in checkpoint_files.items():
        (folder / name).write_bytes(data.draw(damaged(content)) if name == which else content)
    if which != ckpt.META:
        _rehash(folder)  # hashes that match, so the loaders themselves face the bytes
    try:
        tensors, state, meta = ckpt.load_checkpoint(folder)
    except CheckpointError as e:
        assert "\n" not in str(e)
        event(f"{which} refused")
        return
    event(f"{which} loaded")
    assert "G" in tensors and isinstance(state, dict) and meta["step"] == 4
