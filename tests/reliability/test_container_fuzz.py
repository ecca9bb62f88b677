"""The container formats (stylegan2-ada zip, tar shards, LMDB, Hugging Face dataset) meet random
and mutated bytes like every other format: a DataError naming the file, or a well-formed dataset.

LMDB and Arrow memory-map their files and read them natively, where a bad offset can kill the
process (SIGBUS) instead of raising; so each case runs in a forked child, and a child killed by a
signal fails the test with the case's name instead of taking pytest down with it."""
import os
import pickle
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ganforge.data import load_dataset
from ganforge.errors import DataError
from tests.data.containers import encoded_images, write_hf, write_lmdb, write_shards, write_stylegan_zip
from tests.reliability.test_file_fuzz import damaged

IMAGES, LABELS = encoded_images(5, size=10), [0, 2, 1, 1, 0]


def _build(fmt: str, folder: Path) -> None:
    if fmt == "zip":
        write_stylegan_zip(folder / "data.zip", IMAGES, LABELS)
    elif fmt == "tar":
        write_shards(folder / "s", IMAGES, LABELS, per_shard=5)
    elif fmt == "lmdb":
        pytest.importorskip("lmdb")
        write_lmdb(folder / "data.lmdb", IMAGES, LABELS)
    else:
        pytest.importorskip("datasets")
        write_hf(folder / "hf", IMAGES, LABELS)


_SEEDS: dict[str, Path] = {}


def _seed(fmt: str) -> Path:
    """Each format's intact dataset is written once per session (writing an HF set takes ~0.5 s)."""
    if fmt not in _SEEDS:
        folder = Path(tempfile.mkdtemp(prefix=f"fuzz-seed-{fmt}-"))
        _build(fmt, folder)
        _SEEDS[fmt] = folder
    return _SEEDS[fmt]


def _outcome_in_child(path: Path) -> tuple[str, str]:
    """Load `path` in a forked child: ("loaded", shape) | ("DataError", message) | (other, repr)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            try:
                data = load_dataset(str(path), image_size=8)
                images, labels = data.images, data.labels
                ok = images.dtype == torch.uint8 and images.shape[1] in (1, 3) and tuple(images.shape[2:]) == (8, 8)
                if labels is not None:
                    ok = ok and labels.shape == (len(images),) and 0 <= int(labels.min()) \
                        and int(labels.max()) < data.num_classes
                result = ("loaded", str(list(images.shape))) if ok and len(images) else ("malformed", "")
            except DataError as error:
                result = ("DataError", str(error))
            except BaseException as error:  # noqa: BLE001 -- reported to the parent, which fails
                result = (type(error).__name__, repr(error)[:300])
            os.write(write, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        payload = stream.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "signal", signal.Signals(os.WTERMSIG(status)).name
    return pickle.loads(payload)


@pytest.mark.parametrize("fmt", ["zip", "tar", "lmdb", "hf"])
def test_intact_seed_loads(fmt):
    path, _ = _paths(fmt, _seed(fmt))
    kind, detail = _outcome_in_child(path)
    assert kind == "loaded", detail


@pytest.mark.parametrize("fmt", ["zip", "tar", "lmdb", "hf"])
@settings(max_examples=int(os.environ.get("GANFORGE_FUZZ_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_container_gives_a_data_error_naming_it_or_a_well_formed_dataset(fmt, data):
    seed = _seed(fmt)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy"
        shutil.copytree(seed, copy)
        path, files = _paths(fmt, copy)
        victim = data.draw(st.sampled_from(files))
        victim.write_bytes(data.draw(damaged(victim.read_bytes())))
        kind, detail = _outcome_in_child(path)
    event(kind)
    assert kind in ("loaded", "DataError"), f"{fmt}, damaged {victim.name}: {kind} {detail}"
    if kind == "DataError":
        assert str(path) in detail and "\n" not in detail, detail


def _paths(fmt: str, root: Path) -> tuple[Path, list[Path]]:
    """The dataset path and damageable files of a copied seed (same layout as `_build`)."""
    if fmt == "zip":
        return root / "data.zip", [root / "data.zip"]
    if fmt == "tar":
        shard = root / "s" / "shard-000000.tar"
        return shard, [shard]
    if fmt == "lmdb":
        return root / "data.lmdb", [root / "data.lmdb" / "data.mdb"]
    path = root / "hf"
    return path, sorted(path.iterdir())


def test_truncated_lmdb_is_a_data_error_not_a_crash(tmp_path):
    pytest.importorskip("lmdb")
    path = write_lmdb(tmp_path / "data.lmdb", encoded_images(40, size=24), None)
    data = (path / "data.mdb").read_bytes()
    (path / "data.mdb").write_bytes(data[:len(data) - 4096])
    kind, detail = _outcome_in_child(path)
    assert kind == "DataError" and "truncated LMDB" in detail, (kind, detail)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                     max_leaves=20)
_NAMES = st.sampled_from(["00000/img00000000.png", "00000/img00000001.png", "x.png", ""])


@settings(max_examples=150, deadline=None)
@given(meta=st.one_of(_JSON, st.fixed_dictionaries(
    {"labels": st.lists(st.one_of(st.tuples(_NAMES, _JSON).map(list), _JSON), max_size=4)},
    optional={"class_names": _JSON})))
def test_any_dataset_json_gives_a_data_error_or_a_well_formed_dataset(meta):
    import json
    import zipfile
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("00000/img00000000.png", IMAGES[0])
            archive.writestr("00000/img00000001.png", IMAGES[1])
            archive.writestr("dataset.json", json.dumps(meta))
        try:
            data = load_dataset(str(path), image_size=8)
        except DataError as error:
            assert "d.zip" in str(error) and "\n" not in str(error)
            return
    assert len(data) == 2
    if data.labels is not None:
        assert data.labels.dtype == torch.int64 and int(data.labels.max()) < data.num_classes
