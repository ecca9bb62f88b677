"""The trainer's one call for data: index the source, decide memory or streaming from its decoded
size (data.memory_limit), and return the in-memory dataset or the stream, with the decision."""
from __future__ import annotations

import warnings
from pathlib import Path

from ganforge.data.arrays import infer_channels
from ganforge.data.batches import FolderStream, ImageStream
from ganforge.data.cifar import cifar_batches_in
from ganforge.data.containers import open_container
from ganforge.data.dataset import ImageDataset, PointDataset
from ganforge.data.encoded import EncodedStream, first_channels
from ganforge.data.folder import find_images
from ganforge.data.idx import idx_images_in
from ganforge.data.images import IMAGE_EXTENSIONS, read_image
from ganforge.data.memory import DEFAULT_MEMORY_LIMIT, MemoryPlan, decoded_bytes, plan_memory
from ganforge.data.sources import SOURCES, load_dataset
from ganforge.errors import DataError

Stream = ImageStream  # FolderStream or EncodedStream


def open_stream(source: str, image_size: int, channels: int) -> Stream | None:
    """A per-item stream over `source` when it is a folder of images or a container (zip, LMDB,
    HF dataset, tar shards); None for named sources, arrays and batch files (read whole)."""
    if source in SOURCES:
        return None
    path = Path(source).expanduser()
    container = open_container(path)
    if container is not None:
        return EncodedStream(container, image_size, channels or first_channels(container, image_size))
    if not path.is_dir() or cifar_batches_in(path) or idx_images_in(path):
        return None
    files, labels, class_names = find_images(path)
    if not files:
        raise DataError(f"no images found in {path} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    if not channels:
        # Decoding the whole folder to find its channels is what streaming avoids: the first
        # readable image decides (set data.channels for folders that mix gray and colour).
        channels = infer_channels({_first_readable(files, image_size).shape[0]})
    return FolderStream(files, labels, class_names, image_size, channels, str(path))


def open_training_data(source: str, image_size: int = 32, channels: int = 0, skip_bad: bool = False,
                       seed: int = 0, toy_samples: int = 100_000, in_memory: bool | None = None,
                       memory_limit: str | int = DEFAULT_MEMORY_LIMIT
                       ) -> tuple[ImageDataset | PointDataset | Stream, MemoryPlan]:
    """(dataset or stream, the decision). `in_memory=None` decides by size; True/False force."""
    stream = None if in_memory is True else open_stream(source, image_size, channels)
    decoded = None if stream is None else decoded_bytes(len(stream), stream.channels, image_size)
    plan = plan_memory(decoded, memory_limit, in_memory, streamable=stream is not None or in_memory is True)
    if not plan.in_memory:
        return stream, plan
    if in_memory is False:
        warnings.warn(f"data.in_memory=false: {source} is loaded into memory ({plan.reason})")
    return load_dataset(source, image_size=image_size, channels=channels, skip_bad=skip_bad, seed=seed,
                        toy_samples=toy_samples), plan


def _first_readable(files: list[Path], image_size: int):
    first_error = None
    for path in files[:100]:
        try:
            return read_image(path, image_size)
        except DataError as error:
            first_error = first_error or error
    raise DataError(f"none of the first {min(len(files), 100)} images is readable; first: {first_error}")
