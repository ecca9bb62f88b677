"""A stylegan2-ada dataset zip, read in place: image members (sorted by name, in any folder of
the archive) and optional class labels in its `dataset.json`:

    {"labels": [["00000/img00000000.png", 6], ["00000/img00000001.png", 9], ...],
     "class_names": ["airplane", ...]}        # class_names: optional, a ganforge addition

`"labels": null` (or no dataset.json) means unlabelled. Nothing is extracted: the central
directory is indexed once into arrays, then each member is read with one seek.
"""
from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ganforge.data.encoded import MAX_CLASS_INDEX, EncodedImages, PackedNames
from ganforge.data.images import is_image_file
from ganforge.data.messages import one_line
from ganforge.errors import DataError

LABELS_MEMBER = "dataset.json"
# A member larger than this is refused before it is read (a zip bomb cannot exhaust memory).
MAX_MEMBER_BYTES = 256 * 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length


def is_dataset_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


class ZipImages(EncodedImages):
    kind = "zip"

    def __init__(self, path: Path):
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                members = sorted((info for info in archive.infolist() if _is_image_member(info)),
                                 key=lambda info: info.filename)
                labels, class_names = _read_labels(archive, path, [info.filename for info in members])
        except DataError:
            raise
        except Exception as error:  # BadZipFile, struct/unicode errors of a corrupt directory
            raise DataError(f"{path}: not a readable zip archive ({one_line(error)})") from error
        self._offsets = np.array([info.header_offset for info in members], dtype=np.int64)
        self._stored = np.array([info.compress_size for info in members], dtype=np.int64)
        self._sizes = np.array([info.file_size for info in members], dtype=np.int64)
        self._methods = np.array([info.compress_type for info in members], dtype=np.int32)
        self._flags = np.array([info.flag_bits for info in members], dtype=np.int32)
        self._crcs = np.array([info.CRC for info in members], dtype=np.uint32)
        super().__init__(str(path), PackedNames([info.filename for info in members]), labels, class_names)

    def encoded_bytes(self) -> int:
        return int(self._stored.sum())

    def _open(self):
        return open(self.path, "rb")

    def _read(self, handle, index: int) -> bytes:
        method, size = int(self._methods[index]), int(self._sizes[index])
        if self._flags[index] & 0x1:
            raise DataError(f"{self.item_name(index)}: encrypted members cannot be read")
        if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DataError(f"{self.item_name(index)}: compression method {method}; only stored and "
                            "deflated members are read (stylegan2-ada's dataset_tool writes stored)")
        if size > MAX_MEMBER_BYTES:
            raise DataError(f"{self.item_name(index)}: {size} bytes uncompressed, over the limit of "
                            f"{MAX_MEMBER_BYTES}")
        handle.seek(int(self._offsets[index]))
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if signature != b"PK\x03\x04":
            raise DataError(f"{self.item_name(index)}: bad local header")
        handle.seek(name_length + extra_length, 1)
        stored = handle.read(int(self._stored[index]))
        if len(stored) != int(self._stored[index]):
            raise DataError(f"{self.item_name(index)}: truncated")
        if method == zipfile.ZIP_DEFLATED:
            inflater = zlib.decompressobj(-15)
            data = inflater.decompress(stored, size + 1)  # +1: one byte more than promised is an error
        else:
            data = stored
        if len(data) != size or zlib.crc32(data) != int(self._crcs[index]):
            raise DataError(f"{self.item_name(index)}: size or CRC does not match the directory")
        return data


def _is_image_member(info: zipfile.ZipInfo) -> bool:
    name = info.filename
    return not info.is_dir() and is_image_file(Path(name)) and not name.startswith("__MACOSX/")


def _read_labels(archive: zipfile.ZipFile, path: Path, names: list[str]) -> tuple[np.ndarray | None, list | None]:
    try:
        info = archive.getinfo(LABELS_MEMBER)
    except KeyError:
        return None, None
    where = f"{path}:{LABELS_MEMBER}"
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(f"{where}: {info.file_size} bytes is over the limit of {MAX_MEMBER_BYTES}")
    try:
        meta = json.loads(archive.read(info))
    except Exception as error:
        raise DataError(f"{where}: not readable JSON ({one_line(error)})") from error
    return labels_from_json(meta, names, where)


def labels_from_json(meta, names: list[str], where: str) -> tuple[np.ndarray | None, list | None]:
    """stylegan2-ada's `{"labels": [[name, class], ...] | null}` matched to `names` (also used
    for the LMDB layout). Every image needs a label when any is given; extra entries are ignored."""
    if not isinstance(meta, dict):
        raise DataError(f"{where}: expected a JSON object with a 'labels' list")
    pairs, class_names = meta.get("labels"), meta.get("class_names")
    if class_names is not None and not (isinstance(class_names, list)
                                        and all(isinstance(c, str) for c in class_names)):
        raise DataError(f"{where}: 'class_names' must be a list of strings")
    if pairs is None:
        return None, None
    if not isinstance(pairs, list):
        raise DataError(f"{where}: 'labels' must be a list of [file name, class] pairs or null")
    by_name: dict[str, int] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise DataError(f"{where}: each label must be [file name, class], found {str(pair)[:80]}")
        label = pair[1]
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= MAX_CLASS_INDEX:
            raise DataError(f"{where}: {pair[0]} has label {str(label)[:80]}; only class indices "
                            f"(integers 0..{MAX_CLASS_INDEX}) are supported")
        by_name[pair[0]] = label
    missing = next((name for name in names if name not in by_name), None)
    if missing is not None:
        raise DataError(f"{where}: no label for {missing}")
    return np.array([by_name[name] for name in names], dtype=np.int64), class_names
