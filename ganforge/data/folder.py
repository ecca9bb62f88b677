"""A directory of image files (optionally one sub-directory per class), or a single image file."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ganforge.data.arrays import stack_decoded
from ganforge.data.dataset import ImageDataset
from ganforge.data.images import IMAGE_EXTENSIONS, is_image_file, read_image
from ganforge.data.progress import progress
from ganforge.errors import DataError
from ganforge.limits import check_allocation


def load_image_folder(root: Path, image_size: int, channels: int, skip_bad: bool) -> ImageDataset:
    """Load every image under `root`, recursively, in sorted path order.

    When two or more immediate sub-directories contain images, each is a class (labels follow
    the sorted sub-directory names, as torchvision's ImageFolder does). A single sub-directory
    (e.g. CelebA's img_align_celeba/) carries no class information, so the set is unlabelled.
    """
    files, labels, class_names = find_images(root)
    if not files:
        raise DataError(f"no images found in {root} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return _decode_all(files, labels, class_names, str(root), image_size, channels, skip_bad)


def load_image_file(path: Path, image_size: int, channels: int) -> ImageDataset:
    """A single image as a dataset of one (single-image GANs train on exactly this)."""
    return _decode_all([path], None, None, str(path), image_size, channels, skip_bad=False)


def find_images(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Image paths under `root`, with class labels when the layout is one folder per class."""
    loose = sorted(entry for entry in root.iterdir() if entry.is_file() and is_image_file(entry))
    subdirs = sorted(entry for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    per_class = [(subdir, _walk_images(subdir)) for subdir in subdirs]
    per_class = [(subdir, found) for subdir, found in per_class if found]
    if len(per_class) < 2:
        return loose + [path for _, found in per_class for path in found], None, None
    if loose:
        raise DataError(f"{root} has class sub-folders ({per_class[0][0].name}, ...) and also loose images "
                        f"({loose[0].name}, ...); move the loose images into a class folder")
    files = [path for _, found in per_class for path in found]
    labels = [label for label, (_, found) in enumerate(per_class) for _ in found]
    return files, labels, [subdir.name for subdir, _ in per_class]


def _walk_images(directory: Path) -> list[Path]:
    found = []
    for parent, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))  # sorted: stable order
        found.extend(Path(parent) / name for name in sorted(filenames) if is_image_file(Path(name)))
    return found


def _decode_all(files: list[Path], labels: list[int] | None, class_names: list[str] | None, name: str,
                image_size: int, channels: int, skip_bad: bool) -> ImageDataset:
    # Decoded images, then their stack: twice the pixels, at most 4 channels each.
    check_allocation(2 * len(files) * (channels or 3) * image_size * image_size,
                     f"{len(files)} images of {name} at {image_size}x{image_size}",
                     "lower data.image_size, or stream the folder with data.in_memory=false")
    decoded: list[np.ndarray] = []
    kept: list[int] = []
    errors: list[DataError] = []
    # Pillow releases the GIL while decoding, so threads scale with cores on big folders.
    workers = min(8, os.cpu_count() or 1, len(files))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda path: _try_read(path, image_size), files)
        for index, result in enumerate(progress(results, total=len(files), desc=f"loading {name}")):
            if isinstance(result, DataError):
                if not skip_bad:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise result
                errors.append(result)
                continue
            decoded.append(result)
            kept.append(index)
    images = stack_decoded(decoded, errors, len(files), name, channels)
    kept_labels = None if labels is None else torch.tensor([labels[index] for index in kept], dtype=torch.int64)
    return ImageDataset(
        images=torch.from_numpy(images),
        labels=kept_labels,
        num_classes=0 if class_names is None else len(class_names),
        name=name,
        class_names=class_names,
        skipped=len(errors),
    )


def _try_read(path: Path, image_size: int) -> np.ndarray | DataError:
    try:
        return read_image(path, image_size)
    except DataError as error:
        return error
