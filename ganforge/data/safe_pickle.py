"""Unpickle data files that can only hold plain containers and NumPy arrays.

A pickle can call any importable function while loading (`os.system`, `builtins.exec`, ...).
The CIFAR python batches are pickles, so they are read with an unpickler whose `find_class`
resolves only the few NumPy globals that rebuild arrays; every other global is refused before it
is imported, so a crafted file cannot run anything.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ganforge.data.messages import one_line
from ganforge.errors import DataError


def _array_globals() -> dict[tuple[str, str], Any]:
    """The globals NumPy's array pickles name, under both module paths (numpy.core is the 1.x name
    that old pickles, such as the CIFAR files from 2009, carry; numpy._core is the 2.x name)."""
    core = getattr(np, "_core", None) or np.core
    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Protocol 2 has no bytes opcode, so Python 3 writes bytes (and array buffers) as
        # _codecs.encode(text, "latin1"): a pure text-to-bytes function (torch.load's
        # weights_only unpickler allows it for the same reason).
        ("_codecs", "encode"): codecs.encode,
    }
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = core.multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = core.numeric._frombuffer  # pickle protocol 5
    return allowed


class ArrayUnpickler(pickle.Unpickler):
    """An Unpickler that only reconstructs NumPy arrays, dtypes and scalars."""

    def __init__(self, stream: BinaryIO, path: Path) -> None:
        super().__init__(stream, encoding="bytes")  # CIFAR was pickled by Python 2: str is bytes
        self._path = path
        self._allowed = _array_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataError(f"{self._path}: refused to unpickle global {module}.{name} "
                            "(only NumPy arrays are allowed in data files)") from None


def load_array_pickle(path: Path) -> Any:
    """Unpickle `path` allowing only NumPy arrays and plain containers; any failure is a DataError."""
    try:
        with open(path, "rb") as stream:
            return ArrayUnpickler(stream, path).load()
    except DataError:
        raise
    except Exception as error:  # truncated or corrupt pickles raise many types; all mean "bad file"
        raise DataError(f"{path}: not a readable pickle ({one_line(error)})") from error
