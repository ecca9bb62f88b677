"""NumPy `.npz` archives (images plus optional labels) and `.npy` image arrays, never unpickled."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ganforge.data.messages import one_line
from ganforge.errors import DataError

IMAGE_KEYS = ("images", "x")
LABEL_KEYS = ("labels", "y")


def read_numpy_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images and optional labels from a `.npy` array or a `.npz` archive.

    In an archive, images are under `images`/`x` (or are its only array) and labels under
    `labels`/`y`. `allow_pickle=False`: object arrays would unpickle code, so they are refused.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded, None
        with loaded as archive:
            return _pick_arrays(archive, path)
    except DataError:
        raise
    except Exception as error:  # any decoding failure of an untrusted file is a bad file
        raise DataError(f"{path}: not a readable NumPy file ({one_line(error)})") from error


def _pick_arrays(archive: np.lib.npyio.NpzFile, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    by_key = {key.lower(): key for key in archive.files}
    image_key = next((by_key[key] for key in IMAGE_KEYS if key in by_key), None)
    if image_key is None and len(archive.files) == 1:
        image_key = archive.files[0]
    if image_key is None:
        raise DataError(f"{path}: no image array; expected a key named 'images' or 'x', found {sorted(archive.files)}")
    label_key = next((by_key[key] for key in LABEL_KEYS if key in by_key), None)
    return archive[image_key], None if label_key is None else archive[label_key]
