"""Datasets kept as encoded images inside a container (a stylegan2-ada zip, an LMDB, tar shards,
a Hugging Face dataset): an index of items whose bytes are read one at a time, then either all
decoded into memory or decoded per item in DataLoader workers (never holding the whole set).

An index is compact (NumPy arrays, names packed in one buffer, no per-item Python objects): a
streamed ImageNet-size index stays tens of MB in each worker. File handles open lazily, once per
process, because handles opened before a DataLoader forks its workers must not be shared.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ganforge.data.arrays import convert_channels, infer_channels, stack_decoded
from ganforge.data.batches import ImageStream
from ganforge.data.dataset import ImageDataset
from ganforge.data.images import decode_image
from ganforge.data.messages import one_line
from ganforge.data.progress import progress
from ganforge.errors import DataError

# Encoded images are read in chunks of this many items, then decoded in threads: a chunk bounds
# the encoded bytes held at once.
_CHUNK = 256
# Class indices above this are refused: a label is an embedding row (ImageNet-21k has 21,841).
MAX_CLASS_INDEX = 1_000_000


class PackedNames:
    """Many short strings in one UTF-8 buffer plus end offsets (a list of 1M str is ~100 MB)."""

    def __init__(self, names: list[str]):
        encoded = [name.encode("utf-8", "surrogateescape") for name in names]
        self._blob = b"".join(encoded)
        self._ends = np.cumsum([len(item) for item in encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        start = int(self._ends[index - 1]) if index else 0
        return self._blob[start:int(self._ends[index])].decode("utf-8", "surrogateescape")


class EncodedImages:
    """An index over encoded images in one container. Subclasses implement `_open` (a handle
    for this process) and `_read(handle, index)` (the encoded bytes of item `index`)."""

    kind = "container"

    def __init__(self, name: str, names: PackedNames, labels: np.ndarray | None,
                 class_names: list[str] | None = None):
        if len(names) == 0:
            raise DataError(f"{name} holds no images")
        self.name, self.names = name, names
        self.labels = labels
        if labels is not None:
            if len(labels) != len(names):
                raise ValueError("one label per image")  # a reader built a bad index
            if len(labels) and int(labels.min()) < 0:
                raise DataError(f"{name}: labels must be >= 0, found {int(labels.min())}")
            count = int(labels.max()) + 1
            if count > MAX_CLASS_INDEX + 1:
                raise DataError(f"{name}: class label {count - 1} is over the limit of {MAX_CLASS_INDEX}")
            if class_names is not None and len(class_names) < count:
                raise DataError(f"{name}: label {count - 1} but only {len(class_names)} class names")
            self.num_classes = count if class_names is None else len(class_names)
        else:
            self.num_classes = 0
        self.class_names = class_names
        self._handle, self._pid = None, None

    def __len__(self) -> int:
        return len(self.names)

    def item_name(self, index: int) -> str:
        return f"{self.name}:{self.names[index]}"

    def read(self, index: int) -> bytes:
        """The encoded bytes of item `index`; any failure is a DataError naming the item."""
        try:
            if self._pid != os.getpid():
                self._handle, self._pid = self._open(), os.getpid()
            return self._read(self._handle, index)
        except DataError:
            raise
        except Exception as error:  # corrupt containers raise many types; all mean "bad item"
            raise DataError(f"{self.item_name(index)}: unreadable ({one_line(error)})") from error

    def decode(self, index: int, size: int) -> np.ndarray:
        """Item `index` decoded and fitted to size x size: uint8 [C, size, size]."""
        return decode_image(self.read(index), size, self.item_name(index))

    def encoded_bytes(self) -> int | None:
        """Total encoded size when the index knows it cheaply (for reports), else None."""
        return None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"], state["_pid"] = None, None  # each process opens its own
        return state

    def _open(self):
        raise NotImplementedError

    def _read(self, handle, index: int) -> bytes:
        raise NotImplementedError


def load_encoded(source: EncodedImages, image_size: int, channels: int, skip_bad: bool) -> ImageDataset:
    """Decode every item of `source` into an in-memory ImageDataset (the folder loader's rules:
    sorted index order, bad items stop the load unless `skip_bad` counts and skips them)."""
    decoded: list[np.ndarray] = []
    kept: list[int] = []
    errors: list[DataError] = []
    count = len(source)
    workers = min(8, os.cpu_count() or 1)
    bar = progress(iter(range(count)), total=count, desc=f"loading {source.name}")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, count, _CHUNK):
            indices = range(start, min(count, start + _CHUNK))
            # Reads stay on this thread (LMDB transactions and file handles are per thread).
            encoded = [_try(lambda i=i: source.read(i)) for i in indices]
            results = pool.map(lambda item: item[1] if isinstance(item[1], DataError) else
                               _try(lambda: decode_image(item[1], image_size, source.item_name(item[0]))),
                               zip(indices, encoded))
            for index, result in zip(indices, results):
                next(bar, None)
                if isinstance(result, DataError):
                    if not skip_bad:
                        raise result
                    errors.append(result)
                    continue
                decoded.append(result)
                kept.append(index)
    images = stack_decoded(decoded, errors, count, source.name, channels)
    labels = None if source.labels is None else torch.from_numpy(source.labels[kept].astype(np.int64))
    return ImageDataset(images=torch.from_numpy(images), labels=labels, num_classes=source.num_classes,
                        name=source.name, class_names=source.class_names, skipped=len(errors))


def _try(read):
    try:
        return read()
    except DataError as error:
        return error


def first_channels(source: EncodedImages, image_size: int) -> int:
    """The channel count to stream with when the user did not set one: the first readable
    item decides (decoding the whole set to find out is what streaming avoids)."""
    first_error = None
    for index in range(min(len(source), 100)):
        try:
            return infer_channels({source.decode(index, image_size).shape[0]})
        except DataError as error:
            first_error = first_error or error
    raise DataError(f"none of the first {min(len(source), 100)} images is readable; first: {first_error}")


class EncodedStream(ImageStream):
    """Items of a container decoded one per `__getitem__` (in DataLoader workers), with the same
    contract as batches.FolderStream: (uint8 [C, size, size], label or -1, error or "")."""

    def __init__(self, source: EncodedImages, image_size: int, channels: int):
        self.source, self.image_size, self.channels = source, image_size, channels
        self.name, self.num_classes, self.class_names = source.name, source.num_classes, source.class_names
        self.labels = None if source.labels is None else source.labels  # read by StreamingBatches

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        label = -1 if self.labels is None else int(self.labels[index])
        try:
            pixels = convert_channels(self.source.decode(index, self.image_size)[None], self.channels)[0]
        except DataError as error:
            blank = torch.zeros(self.channels, self.image_size, self.image_size, dtype=torch.uint8)
            return blank, label, str(error)
        return torch.from_numpy(np.ascontiguousarray(pixels)), label, ""
