"""Container datasets written by the tests, each with the format's own tools where one exists
(zipfile as stylegan2-ada's dataset_tool, py-lmdb, Hugging Face `datasets`, `webdataset`)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def encoded_images(count: int, size: int = 12, seed: int = 0, fmt: str = "PNG") -> list[bytes]:
    """Distinct RGB images (image i has mean brightness rising with i) as encoded bytes."""
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        pixels = np.clip(rng.integers(0, 40, (size, size, 3)) + index * 20, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


def stylegan_name(index: int) -> str:
    return f"{index // 1000:05d}/img{index:08d}.png"


def write_stylegan_zip(path: Path, images: list[bytes], labels: list[int] | None,
                       compression: int = zipfile.ZIP_STORED) -> Path:
    """The layout stylegan2-ada's dataset_tool writes: 00000/img00000000.png ... + dataset.json."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for index, data in enumerate(images):
            archive.writestr(stylegan_name(index), data)
        meta = {"labels": None if labels is None else
                [[stylegan_name(i), label] for i, label in enumerate(labels)]}
        archive.writestr("dataset.json", json.dumps(meta))
    return path


def write_lmdb(path: Path, images: list[bytes], labels: list[int] | None) -> Path:
    import lmdb
    env = lmdb.open(str(path), map_size=64 << 20)
    with env.begin(write=True) as txn:
        for index, data in enumerate(images):
            txn.put(f"{index:06d}".encode(), data)
        if labels is not None:
            txn.put(b"dataset.json", json.dumps(
                {"labels": [[f"{i:06d}", label] for i, label in enumerate(labels)]}).encode())
    env.close()
    return path


def write_hf(path: Path, images: list[bytes], labels: list[int] | None, class_names=None) -> Path:
    import datasets
    columns = {"image": [{"bytes": data, "path": None} for data in images]}
    features = {"image": datasets.Image()}
    if labels is not None:
        columns["label"] = labels
        features["label"] = datasets.ClassLabel(names=class_names or [str(c) for c in range(max(labels) + 1)])
    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    dataset.save_to_disk(str(path))
    return path


def write_shards(folder: Path, images: list[bytes], labels: list[int] | None, per_shard: int = 3) -> list[Path]:
    """Shards written by webdataset's ShardWriter when installed, else by tarfile (same layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = [{"__key__": f"{i:06d}", "png": data, **({} if labels is None else {"cls": labels[i]})}
               for i, data in enumerate(images)]
    try:
        import webdataset
    except ImportError:
        webdataset = None
    if webdataset is not None:
        with webdataset.ShardWriter(str(folder / "shard-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
            for sample in samples:
                sink.write(sample)
    else:
        for start in range(0, len(samples), per_shard):
            with tarfile.open(folder / f"shard-{start // per_shard:06d}.tar", "w") as archive:
                for sample in samples[start:start + per_shard]:
                    for extension in ("png", "cls"):
                        if extension in sample:
                            value = sample[extension]
                            data = value if isinstance(value, bytes) else str(value).encode()
                            info = tarfile.TarInfo(f"{sample['__key__']}.{extension}")
                            info.size = len(data)
                            archive.addfile(info, io.BytesIO(data))
    return sorted(folder.glob("*.tar"))
