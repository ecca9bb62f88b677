"""Crafted pickles must be refused before anything they name is imported or called."""

import os
import pickle
import sys

import numpy as np
import pytest

from ganforge.data import load_dataset
from ganforge.data.safe_pickle import load_array_pickle
from ganforge.errors import DataError


class RunsAShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class WritesAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return exec, (f"open({str(self.path)!r}, 'w').write('pwned')",)


def batch_with(payload):
    return {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"extra": payload}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_os_system_in_a_cifar_batch_is_refused(tmp_path, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch_with(RunsAShellCommand(f"touch {marker}")), protocol=protocol))
    with pytest.raises(DataError) as caught:
        load_dataset(str(path))
    message = str(caught.value)
    assert str(path) in message and "system" in message and "refused" in message
    assert not marker.exists()


def test_exec_payload_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(batch_with(WritesAFile(marker)), protocol=2))
    with pytest.raises(DataError, match=r"refused to unpickle global (__builtin__|builtins)\.exec"):
        load_dataset(str(path))
    assert not marker.exists()


def test_refused_modules_are_never_imported(tmp_path, monkeypatch):
    # A module with an import-time side effect: if find_class imported it, the marker would appear.
    marker = tmp_path / "imported"
    (tmp_path / "evil_module_for_test.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n"
                                                      "def payload(): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"cevil_module_for_test\npayload\n(tR.")  # protocol 0: GLOBAL, MARK, TUPLE, REDUCE
    with pytest.raises(DataError, match="evil_module_for_test.payload"):
        load_dataset(str(path))
    assert not marker.exists() and "evil_module_for_test" not in sys.modules


@pytest.mark.parametrize("module, name", [("numpy", "load"), ("numpy.core.multiarray", "fromfile"),
                                          ("numpy._core.multiarray", "_reconstruct_evil"),
                                          ("builtins", "getattr"), ("subprocess", "Popen")])
def test_near_miss_globals_are_refused(tmp_path, module, name):
    path = tmp_path / "batch"
    path.write_bytes(f"c{module}\n{name}\n(tR.".encode())
    with pytest.raises(DataError, match=f"refused to unpickle global {module}.{name}"):
        load_array_pickle(path)


def test_plain_arrays_still_load(tmp_path):
    path = tmp_path / "ok"
    arrays = {"a": np.arange(6, dtype=np.uint8).reshape(2, 3), "b": np.float32(1.5), "c": [np.int64(3)]}
    for protocol in (2, 4, 5):
        path.write_bytes(pickle.dumps(arrays, protocol=protocol))
        loaded = load_array_pickle(path)
        assert np.array_equal(loaded[b"a" if b"a" in loaded else "a"], arrays["a"])
