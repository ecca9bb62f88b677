"""Atomic file writes and content hashes: a crash or a full disk never leaves a half-written file
under a final name, and the previous version stays intact."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path

from .errors import GanforgeError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_UMASK: int | None = None


def _file_mode(path: Path) -> int:
    """The mode a plainly created file would get (mkstemp's 0600 would hide run files from other
    users); an existing file keeps its own."""
    global _UMASK
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        pass
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    Any failure (disk full, read-only folder) raises GanforgeError naming the file, removes the
    temporary file and leaves the previous version of `path` untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise GanforgeError(f"cannot write to {path.parent}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise GanforgeError(f"cannot write {path}: {e.strerror or e}") from None
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def json_line(record: dict) -> str:
    """One line of strict JSON: NaN and Inf (a diverged loss, an undefined metric) become null,
    since other tools' JSON parsers reject them."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return json.dumps(clean(record), allow_nan=False)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    _fsync_dir(Path(path))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def load_error_reason(error: BaseException) -> str:
    """One line saying why a file could not be loaded safely.

    torch's weights_only refusal is a page of advice ending in "re-run with weights_only=False",
    which is the wrong advice for an untrusted file: keep only what it refused."""
    text = _ANSI.sub("", str(error))
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if refused:
        return f"it refers to {refused.group(1)}, which is not plain data (refused; nothing was run)"
    unpickler = re.search(r"WeightsUnpickler error: ([^\n]+)", text)
    if unpickler:
        return f"{unpickler.group(1).strip()} (refused; nothing was run)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]
