"""WebDataset tar shards, read in place with random access (the standard library's tarfile).

A sample is the group of members sharing a key (the path up to the first dot of the file name,
WebDataset's rule): `000017.png` (or .jpg, .jpeg, .webp, ...) is the image and `000017.cls`
(decimal text) its optional class. Give one `.tar`, a folder of `.tar` shards, or a brace
pattern `train-{000000..000146}.tar`. Shards are indexed once (headers only: tar stores each
member's offset), so every rank reads exactly its own samples of the seeded epoch order and a
resumed run continues the same order; the `webdataset` package is not needed to read them.
Compressed shards (.tar.gz) have no random access and are refused.
"""
from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np

from ganforge.data.encoded import MAX_CLASS_INDEX, EncodedImages, PackedNames
from ganforge.data.images import IMAGE_EXTENSIONS
from ganforge.data.messages import one_line
from ganforge.errors import DataError

_IMAGE_EXTENSIONS = tuple(extension.lstrip(".") for extension in IMAGE_EXTENSIONS)
_LABEL_EXTENSION = "cls"
_MAX_LABEL_BYTES = 64
_BRACES = re.compile(r"\{(\d+)\.\.(\d+)\}")


def is_tar_source(path: Path) -> bool:
    """A `.tar` file or a brace pattern of them (folders are checked by `shards_in`)."""
    return path.name.lower().endswith(".tar") and (path.is_file() or bool(_BRACES.search(path.name)))


def shards_in(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".tar"))


def expand_shards(path: Path) -> list[Path]:
    """`a-{000..002}.tar` -> a-000.tar, a-001.tar, a-002.tar (zero padding kept); one range."""
    match = _BRACES.search(path.name)
    if match is None:
        return [path]
    first, last = int(match.group(1)), int(match.group(2))
    width = len(match.group(1))
    if last < first or last - first > 1_000_000:
        raise DataError(f"{path}: shard range {match.group(0)} is empty or too long")
    names = [path.name[:match.start()] + str(n).zfill(width) + path.name[match.end():]
             for n in range(first, last + 1)]
    shards = [path.parent / name for name in names]
    missing = next((shard for shard in shards if not shard.is_file()), None)
    if missing is not None:
        raise DataError(f"{missing} does not exist (shard of {path})")
    return shards


class TarShardImages(EncodedImages):
    kind = "tar shards"

    def __init__(self, shards: list[Path], name: str):
        self.shards = shards
        names: list[str] = []
        where: list[tuple[int, int, int]] = []  # (shard, data offset, size) per sample
        labels: list[int | None] = []
        for number, shard in enumerate(shards):
            try:
                for key, image, label in _samples(shard):
                    names.append(f"{shard.name}:{image.name}")
                    where.append((number, image.offset_data, image.size))
                    labels.append(label)
            except DataError:
                raise
            except Exception as error:  # tarfile raises many types for corrupt headers
                raise DataError(f"{shard}: not a readable tar shard ({one_line(error)})") from error
        labelled = [label is not None for label in labels]
        if any(labelled) and not all(labelled):
            first = names[labelled.index(False)]
            raise DataError(f"{name}: some samples have a .{_LABEL_EXTENSION} label and some do not "
                            f"(first without: {first})")
        table = np.array(where, dtype=np.int64).reshape(-1, 3)
        self._shard, self._offset, self._size = table[:, 0], table[:, 1], table[:, 2]
        label_array = np.array(labels, dtype=np.int64) if labels and all(labelled) else None
        super().__init__(name, PackedNames(names), label_array)

    def item_name(self, index: int) -> str:
        return f"{self.shards[int(self._shard[index])].parent}/{self.names[index]}"

    def encoded_bytes(self) -> int:
        return int(self._size.sum())

    def _open(self) -> dict:
        return {}  # shard number -> open file, opened on first use

    def _read(self, handles: dict, index: int) -> bytes:
        number = int(self._shard[index])
        if number not in handles:
            handles[number] = open(self.shards[number], "rb")
        handle = handles[number]
        handle.seek(int(self._offset[index]))
        data = handle.read(int(self._size[index]))
        if len(data) != int(self._size[index]):
            raise DataError(f"{self.item_name(index)}: truncated")
        return data


def _samples(shard: Path):
    """(key, image member, label or None) for each sample of one shard, in shard order."""
    file_size = shard.stat().st_size
    images: dict[str, tarfile.TarInfo] = {}
    labels: dict[str, int] = {}
    order: list[str] = []
    try:
        archive = tarfile.open(shard, mode="r:")  # "r:": no transparent decompression
    except tarfile.ReadError as error:
        raise DataError(f"{shard}: not an uncompressed tar shard ({one_line(error)}); compressed "
                        "shards cannot be read in place") from error
    with archive:
        for member in archive:
            if not member.isfile():
                continue
            folder, _, base = member.name.rpartition("/")
            if base.startswith(".") or "." not in base:
                continue
            stem, extension = base.split(".", 1)
            key, extension = f"{folder}/{stem}", extension.lower()
            if member.offset_data + member.size > file_size:
                raise DataError(f"{shard}:{member.name}: truncated")
            if extension in _IMAGE_EXTENSIONS and key not in images:
                images[key] = member
                order.append(key)
            elif extension == _LABEL_EXTENSION:
                labels[key] = _read_label(archive, member, shard)
    for key in order:
        yield key, images[key], labels.get(key)


def _read_label(archive: tarfile.TarFile, member: tarfile.TarInfo, shard: Path) -> int:
    where = f"{shard}:{member.name}"
    if member.size > _MAX_LABEL_BYTES:
        raise DataError(f"{where}: {member.size} bytes is too long for a class label")
    text = archive.extractfile(member).read()
    try:
        label = int(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{where}: class label must be a decimal integer, found {text[:20]!r}") from error
    if not 0 <= label <= MAX_CLASS_INDEX:
        raise DataError(f"{where}: class label must be in 0..{MAX_CLASS_INDEX}, found {label}")
    return label
