"""MNIST IDX files (LeCun's format, also used by Fashion-MNIST, KMNIST and EMNIST), raw or gzip.

Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian uint32, then the data. Images are `*-idx3-ubyte`, labels `*-idx1-ubyte`.
"""
from __future__ import annotations

import gzip
import math
import re
import zlib
from pathlib import Path

import numpy as np

from ganforge.data.messages import one_line
from ganforge.errors import DataError

_UNSIGNED_BYTE = 0x08
_IMAGES_NAME = re.compile(r"idx3-ubyte(\.gz)?$")
_LABELS_NAME = re.compile(r"idx1-ubyte(\.gz)?$")


def is_idx_images(path: Path) -> bool:
    return bool(_IMAGES_NAME.search(path.name))


def is_idx_labels(path: Path) -> bool:
    return bool(_LABELS_NAME.search(path.name))


def idx_images_in(directory: Path) -> list[Path]:
    """The IDX image files to load from a directory: the training split (train-*) when present,
    as torchvision's MNIST(train=True) does, otherwise every images file, sorted."""
    found = sorted(path for path in directory.iterdir() if path.is_file() and is_idx_images(path))
    training = [path for path in found if path.name.startswith("train")]
    return training or found


def read_idx_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 images [N, H, W] and, when the matching labels file sits beside it, labels [N]."""
    images = _read_idx(path, dimensions=3)
    labels_path = labels_path_for(path)
    if labels_path is None:
        return images, None
    labels = _read_idx(labels_path, dimensions=1)
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {path.name}")
    return images, labels


def labels_path_for(images_path: Path) -> Path | None:
    """train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte, raw or gzipped, if it exists."""
    stem = _IMAGES_NAME.sub("idx1-ubyte", images_path.name).replace("images", "labels")
    for name in (stem, stem + ".gz"):
        candidate = images_path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path, dimensions: int) -> np.ndarray:
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read IDX file ({one_line(error)})") from error
    header_size = 4 + 4 * dimensions
    if len(data) < header_size or data[0:2] != b"\x00\x00" or data[3] != dimensions:
        raise DataError(f"{path}: bad IDX magic number; expected 0x0000 then type 0x08 and {dimensions} "
                        f"dimensions, got {data[:4].hex() or 'an empty file'}")
    if data[2] != _UNSIGNED_BYTE:
        raise DataError(f"{path}: IDX type code 0x{data[2]:02x} is not supported; expected 0x08 (unsigned byte)")
    shape = tuple(int.from_bytes(data[4 + 4 * axis:8 + 4 * axis], "big") for axis in range(dimensions))
    expected = math.prod(shape)  # Python ints: a hostile header cannot overflow the check
    if len(data) - header_size != expected:
        raise DataError(f"{path}: IDX header says shape {list(shape)} ({expected} bytes) but the file holds "
                        f"{len(data) - header_size} bytes of data")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)
