"""A Hugging Face dataset saved with `save_to_disk` (a Dataset, or a DatasetDict whose `train`
split, or only split, is used), memory-mapped in place. The image column is the first with the
`Image` feature (or a binary column named image/img); the label column, optional, is the first
`ClassLabel` (its names become class names) or an integer column named label/labels. Images are
read as their encoded bytes and decoded by ganforge's own decoder (size limits, mode rules), not
by `datasets`. Needs `ganforge[hf]`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.data.encoded import EncodedImages
from ganforge.data.extras import import_extra
from ganforge.data.messages import one_line
from ganforge.errors import DataError

_IMAGE_NAMES = ("image", "img")
_LABEL_NAMES = ("label", "labels")
_SPLIT = "train"


def is_hf_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_info.json").is_file() and (path / "state.json").is_file()
                              or (path / "dataset_dict.json").is_file())


class HuggingFaceImages(EncodedImages):
    kind = "Hugging Face dataset"

    def __init__(self, path: Path):
        self.path = path
        import_extra("datasets", "hf", f"a Hugging Face dataset ({path})")
        try:
            dataset = self._load()
            self.image_column, label_column = _columns(dataset.features, path)
            labels, class_names = None, None
            if label_column is not None:
                feature = dataset.features[label_column]
                class_names = list(feature.names) if hasattr(feature, "names") else None
                labels = np.asarray(list(dataset[label_column]), dtype=np.int64)
            count = len(dataset)
        except DataError:
            raise
        except Exception as error:  # datasets/pyarrow raise many types for corrupt files
            raise DataError(f"{path}: not a readable Hugging Face dataset ({one_line(error)})") from error
        # Row numbers are the names: a million-row set costs no per-row strings.
        super().__init__(str(path), _RowNames(count), labels, class_names)

    def _load(self):
        import datasets
        loaded = datasets.load_from_disk(str(self.path))
        if isinstance(loaded, datasets.DatasetDict):
            if _SPLIT in loaded:
                loaded = loaded[_SPLIT]
            elif len(loaded) == 1:
                loaded = next(iter(loaded.values()))
            else:
                raise DataError(f"{self.path}: splits {sorted(loaded)} and none is '{_SPLIT}'; pass the "
                                "split's own folder")
        return loaded

    def _open(self):
        import datasets
        dataset = self._load().select_columns([self.image_column])
        if isinstance(dataset.features[self.image_column], datasets.Image):
            dataset = dataset.cast_column(self.image_column, datasets.Image(decode=False))
        return dataset

    def _read(self, dataset, index: int) -> bytes:
        value = dataset[int(index)][self.image_column]
        if isinstance(value, dict):  # the Image feature: {"bytes": ..., "path": ...}
            if value.get("bytes") is not None:
                return value["bytes"]
            if value.get("path"):
                return (self.path / value["path"]).read_bytes()  # relative paths: from the dataset
            raise DataError(f"{self.item_name(index)}: empty image")
        if isinstance(value, bytes):
            return value
        raise DataError(f"{self.item_name(index)}: image column holds {type(value).__name__}, not bytes")


class _RowNames:
    def __init__(self, count: int):
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        return f"row {int(index)}"


def _columns(features, path: Path) -> tuple[str, str | None]:
    import datasets
    image = next((name for name, kind in features.items() if isinstance(kind, datasets.Image)), None)
    if image is None:
        image = next((name for name in _IMAGE_NAMES if name in features
                      and getattr(features[name], "dtype", None) in ("binary", "large_binary")), None)
    if image is None:
        raise DataError(f"{path}: no image column (an Image feature, or binary 'image'/'img'); "
                        f"columns: {sorted(features)}")
    label = next((name for name, kind in features.items() if isinstance(kind, datasets.ClassLabel)), None)
    if label is None:
        label = next((name for name in _LABEL_NAMES if name in features
                      and str(getattr(features[name], "dtype", "")).startswith(("int", "uint"))), None)
    return image, label
