"""CIFAR-10 / CIFAR-100 "python version" batches (Krizhevsky 2009), read without running pickles.

Each batch is a pickled dict: `data` uint8 [N, 3072] (1024 red, then green, then blue values of a
32x32 image, row-major) and `labels` (CIFAR-10) or `fine_labels` (CIFAR-100) lists of ints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ganforge.data.safe_pickle import load_array_pickle
from ganforge.errors import DataError

CIFAR_SIDE = 32
_TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
_BATCH_NAMES = (*_TRAIN_BATCHES, "test_batch", "train", "test")
_META_FILES = {"batches.meta": "label_names", "meta": "fine_label_names"}


def is_cifar_name(path: Path) -> bool:
    return path.name in _BATCH_NAMES


def cifar_batches_in(directory: Path) -> list[Path]:
    """The batches to load from a CIFAR directory: the training split (data_batch_1..5 for
    CIFAR-10, `train` for CIFAR-100), else the test split; empty when this is not CIFAR."""
    training = [directory / name for name in _TRAIN_BATCHES if (directory / name).is_file()]
    if training:
        return training
    if (directory / "test_batch").is_file():
        return [directory / "test_batch"]
    # CIFAR-100's `train`/`test` are common words, so they only count beside its `meta` file.
    for name in ("train", "test"):
        if (directory / name).is_file() and (directory / "meta").is_file():
            return [directory / name]
    return []


def read_cifar(batches: list[Path]) -> tuple[np.ndarray, np.ndarray, int, list[str] | None]:
    """uint8 images [N, 3, 32, 32], int64 labels [N], the class count, and class names if the
    meta file sits beside the batches."""
    images, labels, fine = [], [], set()
    for path in batches:
        batch_images, batch_labels, is_fine = _read_batch(path)
        images.append(batch_images)
        labels.append(batch_labels)
        fine.add(is_fine)
    if len(fine) > 1:
        raise DataError(f"{batches[0].parent}: mixes CIFAR-10 and CIFAR-100 batches")
    num_classes = 100 if fine.pop() else 10
    all_labels = np.concatenate(labels)
    if all_labels.size and (all_labels.min() < 0 or all_labels.max() >= num_classes):
        raise DataError(f"{batches[0]}: labels span {all_labels.min()}..{all_labels.max()}, outside the "
                        f"{num_classes} CIFAR classes")
    return np.concatenate(images), all_labels, num_classes, _class_names(batches[0].parent, num_classes)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    batch = _as_str_keys(load_array_pickle(path), path)
    data = batch.get("data")
    is_fine = "fine_labels" in batch
    labels = batch.get("fine_labels" if is_fine else "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * CIFAR_SIDE * CIFAR_SIDE:
        found = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: CIFAR 'data' must be uint8 [N, 3072], found {found}")
    if labels is None:
        raise DataError(f"{path}: CIFAR batch has no 'labels' or 'fine_labels'")
    try:
        label_array = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as error:
        raise DataError(f"{path}: CIFAR labels are not integers") from error
    if label_array.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} CIFAR images but labels have shape {list(label_array.shape)}")
    return data.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE), label_array, is_fine


def _class_names(directory: Path, num_classes: int) -> list[str] | None:
    for file_name, key in _META_FILES.items():
        path = directory / file_name
        if not path.is_file():
            continue
        names = _as_str_keys(load_array_pickle(path), path).get(key)
        if isinstance(names, list) and len(names) == num_classes:
            return [name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name) for name in names]
    return None


def _as_str_keys(batch: Any, path: Path) -> dict[str, Any]:
    # Python 2 pickles read with encoding="bytes" have bytes keys; files written by Python 3 have str.
    if not isinstance(batch, dict):
        raise DataError(f"{path}: a CIFAR batch is a pickled dict, found {type(batch).__name__}")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): value for key, value in batch.items()}
