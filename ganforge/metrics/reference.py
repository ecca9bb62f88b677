"""Reference features of a dataset, cached on disk: extracting them is the slow half of an
evaluation and they change only when the data, the extractor, the sample size or the seed do, so
the cache key is a hash of exactly those (as stylegan2-ada's metric_utils does).

Files are plain .npz archives read with allow_pickle=False, written atomically; an unreadable one
is recomputed, never trusted."""

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ganforge.io import atomic_write_bytes

CACHE_ENV = "GANFORGE_CACHE"
FORMAT = "ganforge-reference/1"


def cache_root(explicit=None) -> Path:
    """`explicit`, else $GANFORGE_CACHE, else ~/.cache/ganforge."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "ganforge"


def dataset_digest(images) -> str:
    """SHA-256 of a uint8 image tensor's shape and bytes: a folder whose files changed gets a new key."""
    array = np.ascontiguousarray(images.cpu().numpy() if hasattr(images, "cpu") else images)
    digest = hashlib.sha256(json.dumps(list(array.shape)).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def reference_key(*, dataset: str, source: str, image_size: int, channels: int, extractor_key: str,
                  n: int, seed: int, content: str) -> str:
    """SHA-256 of everything the reference features depend on."""
    fields = {"format": FORMAT, "dataset": dataset, "source": source, "image_size": image_size,
              "channels": channels, "extractor": extractor_key, "n": n, "seed": seed, "content": content}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def reference_path(key: str, root=None) -> Path:
    return cache_root(root) / "reference" / f"{key}.npz"


def load_reference(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is absent or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def save_reference(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return path
