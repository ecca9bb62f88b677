"""Reading files from a run directory that may have been copied, edited or crafted by someone else.

Every file read from a run is a regular file (never a device, FIFO or socket: /dev/zero would
hash forever, a FIFO would block the open), of bounded size, and inside the run directory after
following symlinks (a link to elsewhere is refused, never followed silently). Each refusal is one
CheckpointError line naming the file. `safetensors_shapes` reads a weights file's tensor shapes
from its header alone, so shapes can be checked before any model or tensor is allocated.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

from .errors import CheckpointError, GanforgeError

MAX_JSON = 16 << 20          # config.json, meta.json, data.json: a few KiB in practice
MAX_LOG = 1 << 30            # metrics.jsonl: about 200 bytes per logged step
MAX_HEADER = 100 << 20       # a safetensors header (the format's own limit)
MAX_PATH = 4096              # PATH_MAX on Linux


def run_directory(path: str | Path) -> Path:
    """The run directory as a Path, or one line saying why it cannot be one."""
    text = str(path)
    if len(os.fsencode(text)) > MAX_PATH or any(len(os.fsencode(p)) > 255 for p in Path(text).parts):
        raise GanforgeError(f"run directory path is too long ({len(text)} characters): {text[:60]}...")
    path = Path(text)
    try:
        info = path.stat()
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise GanforgeError(f"run directory {text} does not exist") from None
        raise GanforgeError(f"cannot open run directory {text}: {e.strerror or e}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise GanforgeError(f"{text} is not a directory")
    return path


def inside(path: str | Path, root: str | Path) -> Path:
    """`path` with every symlink followed, refused unless it stays inside `root`."""
    path = Path(path)
    try:
        real, real_root = path.resolve(strict=False), Path(root).resolve(strict=False)
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop (Python < 3.13)
        raise CheckpointError(f"{path} cannot be resolved: {getattr(e, 'strerror', None) or e}") from None
    if real != real_root and real_root not in real.parents:
        raise CheckpointError(f"{path} links outside the run directory {root} (to {real}); refused")
    return real


def _open_regular(path: Path, limit: int, root) -> tuple[int, int]:
    """(file descriptor, size) of a regular file no larger than `limit`."""
    real = inside(path, root) if root is not None else Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "No such file", str(path)) from None
        raise CheckpointError(f"cannot open {path}: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path} is not a regular file; refused")
        if info.st_size > limit:
            raise CheckpointError(f"{path} is {info.st_size} bytes, over the {limit}-byte limit for "
                                  "this file; refused")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def read_bytes(path: str | Path, limit: int, root: str | Path | None = None) -> bytes:
    """The whole file, at most `limit` bytes (a file that grows while read is cut there)."""
    fd, size = _open_regular(Path(path), limit, root)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise CheckpointError(f"{path} grew past the {limit}-byte limit while being read; refused")
    return data


def read_text(path: str | Path, limit: int, root: str | Path | None = None) -> str:
    data = read_bytes(path, limit, root)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path} is not UTF-8 text (byte {e.start})") from None


def read_json(path: str | Path, root: str | Path | None = None, limit: int = MAX_JSON,
              kind: type = dict):
    """A JSON document of the given top-level type, or one line naming the file."""
    text = read_text(path, limit, root)
    try:
        value = json.loads(text)
    except RecursionError:
        raise CheckpointError(f"{path} is nested too deeply to be a ganforge file") from None
    except ValueError as e:
        raise CheckpointError(f"{path} is unreadable: not valid JSON ({e})") from None
    if not isinstance(value, kind):
        noun = "an object" if kind is dict else f"a {kind.__name__}"
        raise CheckpointError(f"{path} holds a JSON {type(value).__name__}, not {noun}")
    return value


def sha256(path: str | Path, limit: int, root: str | Path | None = None) -> str:
    fd, _ = _open_regular(Path(path), limit, root)
    digest, read = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(1 << 20):
            read += len(chunk)
            if read > limit:
                raise CheckpointError(f"{path} grew past the {limit}-byte limit while being read; refused")
            digest.update(chunk)
    return digest.hexdigest()


def regular_file_inside(path: str | Path, root: str | Path, limit: int) -> Path:
    """Check, without reading it, that a file would pass read_bytes; returns its resolved path
    (for libraries that open the file themselves)."""
    real = inside(path, root)
    fd, _ = _open_regular(Path(path), limit, root)
    os.close(fd)
    return real


def check_appendable(path: str | Path, root: str | Path) -> None:
    """A log about to be appended to is a regular file inside the run (or does not exist yet):
    a link to another file would write outside the run, a link to a device nowhere."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    inside(path, root)
    try:
        info = path.stat()
    except OSError as e:
        raise CheckpointError(f"cannot open {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path} is not a regular file; refused")


_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def safetensors_shapes(path: str | Path, limit: int,
                       root: str | Path | None = None) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header, without reading any tensor; the
    header is checked against the file (dtypes known, offsets inside the data, sizes matching the
    shapes), so a file that passes holds exactly these tensors."""
    fd, size = _open_regular(Path(path), limit, root)
    with os.fdopen(fd, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path} is too short to be a safetensors file")
        n = int.from_bytes(prefix, "little")
        if n > min(MAX_HEADER, size - 8):
            raise CheckpointError(f"{path} declares a {n}-byte header in a {size}-byte file; not safetensors")
        header_bytes = f.read(n)
    try:
        header = json.loads(header_bytes)
    except (ValueError, RecursionError):
        raise CheckpointError(f"{path} has an unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} has an unreadable safetensors header")
    data_size, shapes = size - 8 - n, {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            ok = (dtype in _DTYPE_BYTES and isinstance(shape, list) and len(shape) <= 16
                  and all(type(d) is int and 0 <= d < 2**40 for d in shape)
                  and type(start) is int and type(end) is int and 0 <= start <= end <= data_size)
        except (KeyError, TypeError, ValueError):
            ok = False
        if ok:
            count = 1
            for d in shape:
                count *= d
            ok = count * _DTYPE_BYTES[dtype] == end - start
        if not ok:
            raise CheckpointError(f"{path}: tensor {name[:80]!r} has a malformed header entry")
        shapes[name] = tuple(shape)
    return shapes
