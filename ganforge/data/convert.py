"""Convert any source (a folder, a container, arrays, a named set) into a stylegan2-ada dataset
zip at one resolution: `00000/img00000000.png`, ... plus `dataset.json` with the labels (and
the class names when the source has them). Items are read and written one chunk at a time, so
a source larger than memory converts in constant memory; unreadable items are skipped and
reported. The zip is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data.arrays import convert_channels
from ganforge.data.batches import FolderStream
from ganforge.data.dataset import ImageDataset, PointDataset
from ganforge.data.images import decode_image
from ganforge.data.memory import decoded_bytes, format_size
from ganforge.data.progress import progress
from ganforge.data.sources import load_dataset
from ganforge.data.training_data import open_stream
from ganforge.errors import DataError

_CHUNK = 256
_SHOWN_SKIPS = 5


@dataclass
class ConversionReport:
    source: str
    output: str | None            # None for a dry run
    resolution: int
    channels: int = 0
    found: int = 0                # items in the source
    written: int = 0              # images converted (written, or that would be on a dry run)
    skipped: list[str] = field(default_factory=list)   # first few unreadable items, with reasons
    skipped_count: int = 0
    class_counts: dict[int, int] = field(default_factory=dict)
    class_names: list[str] | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None

    def lines(self) -> list[str]:
        shape = f"{self.channels}x{self.resolution}x{self.resolution}"
        out = [f"source: {self.source} ({self.found} items"
               + (f", {format_size(self.input_bytes)} encoded)" if self.input_bytes is not None else ")"),
               f"images: {self.written} at {shape} (decoded {format_size(decoded_bytes(self.written, self.channels, self.resolution))})",
               f"skipped: {self.skipped_count}" + "".join(f"\n  {line}" for line in self.skipped)]
        if self.class_counts:
            names = self.class_names or []
            per_class = ", ".join(f"{names[c] if c < len(names) else c}: {n}" for c, n in sorted(self.class_counts.items()))
            out.append(f"classes: {len(names) or max(self.class_counts) + 1} ({per_class})")
        else:
            out.append("classes: none (unlabelled)")
        if self.output is None:
            out.append("dry run: nothing written")
        else:
            out.append(f"wrote {self.output} ({format_size(self.output_bytes or 0)})")
        return out


def convert_to_zip(source: str, output: str | Path | None, resolution: int, channels: int = 0,
                   dry_run: bool = False, overwrite: bool = False) -> ConversionReport:
    """Convert `source` to a stylegan2-ada zip at `output` (None or dry_run: report only)."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise DataError(f"resolution must be a positive integer, got {resolution!r}")
    target = None if dry_run or output is None else Path(output).expanduser()
    if target is not None:
        if target.suffix.lower() != ".zip":
            raise DataError(f"{target}: the output must be a .zip file")
        if target.exists() and not overwrite:
            raise DataError(f"{target} exists; choose another name or pass --overwrite")
        if not target.parent.is_dir():
            raise DataError(f"{target.parent} does not exist")
    items = _items(source, resolution, channels)
    report = ConversionReport(source, None if target is None else str(target), resolution,
                              channels=items.channels, found=items.count, class_names=items.class_names,
                              input_bytes=items.input_bytes)
    labels: list[tuple[str, int]] = []
    temporary = None if target is None else target.with_name(f".{target.name}.partial")
    try:
        archive = None if temporary is None else zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED)
        try:
            for pixels, label, error in progress(items.decoded(), total=items.count, desc=f"converting {source}"):
                if error:
                    report.skipped_count += 1
                    if len(report.skipped) < _SHOWN_SKIPS:
                        report.skipped.append(error)
                    continue
                name = f"{report.written // 1000:05d}/img{report.written:08d}.png"
                if archive is not None:
                    archive.writestr(name, _png(pixels))
                if label is not None:
                    labels.append((name, label))
                    report.class_counts[label] = report.class_counts.get(label, 0) + 1
                report.written += 1
            if report.written == 0:
                raise DataError(f"no readable images in {source}"
                                + (f"; first: {report.skipped[0]}" if report.skipped else ""))
            if archive is not None:
                meta = {"labels": [list(pair) for pair in labels] if items.labelled else None}
                if items.class_names:
                    meta["class_names"] = items.class_names
                archive.writestr("dataset.json", json.dumps(meta))
        finally:
            if archive is not None:
                archive.close()
        if temporary is not None:
            os.replace(temporary, target)
            report.output_bytes = target.stat().st_size
    except OSError as error:
        raise DataError(f"{target}: {error.strerror or error}") from error
    finally:
        if temporary is not None and temporary.exists():
            temporary.unlink()
    return report


def _png(pixels: np.ndarray) -> bytes:
    hwc = pixels.transpose(1, 2, 0)
    image = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


@dataclass
class _Items:
    count: int
    channels: int
    labelled: bool
    class_names: list[str] | None
    input_bytes: int | None
    decoded: Callable[[], Iterator[tuple[np.ndarray, int | None, str]]]


def _items(source: str, resolution: int, channels: int) -> _Items:
    """The source as (pixels uint8 [C, r, r], label or None, error or "") in source order."""
    stream = open_stream(source, resolution, channels)
    if stream is None:  # arrays and named sets: read whole (they are read whole anyway)
        data = load_dataset(source, image_size=resolution, channels=channels)
        if isinstance(data, PointDataset):
            raise DataError(f"{source} is a set of 2-D points, not images")
        return _in_memory_items(data)
    if isinstance(stream, FolderStream):
        files = stream.files
        read = lambda index: files[index].read_bytes()  # noqa: E731 -- small local adapters
        name = lambda index: str(files[index])  # noqa: E731
        labels = stream.labels
        input_bytes = sum(path.stat().st_size for path in files)
    else:
        container = stream.source
        read, name, labels = container.read, container.item_name, container.labels
        input_bytes = container.encoded_bytes()

    def decoded() -> Iterator[tuple[np.ndarray, int | None, str]]:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, len(stream), _CHUNK):
                indices = range(start, min(len(stream), start + _CHUNK))
                encoded = [_attempt(lambda i=i: read(i)) for i in indices]  # reads stay on this thread
                fitted = pool.map(lambda pair: pair[1] if isinstance(pair[1], DataError) else _attempt(
                    lambda: convert_channels(decode_image(pair[1], resolution, name(pair[0]))[None],
                                             stream.channels)[0]), zip(indices, encoded))
                for index, result in zip(indices, fitted):
                    label = None if labels is None else int(labels[index])
                    if isinstance(result, DataError):
                        yield None, label, str(result)
                    else:
                        yield result, label, ""

    return _Items(len(stream), stream.channels, labels is not None, stream.class_names, input_bytes, decoded)


def _in_memory_items(data: ImageDataset) -> _Items:
    def decoded():
        for index in range(len(data)):
            label = None if data.labels is None else int(data.labels[index])
            yield data.images[index].numpy(), label, ""
    return _Items(len(data), data.channels, data.labels is not None, data.class_names, None, decoded)


def _attempt(call):
    try:
        return call()
    except DataError as error:
        return error
    except OSError as error:  # a file that vanished or cannot be read: that item's problem
        return DataError(f"{getattr(error, 'filename', '') or 'item'}: {error.strerror or error}")
