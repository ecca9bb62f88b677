"""Full-state checkpoints that load without running code, written so a crash never corrupts one.

Layout of one checkpoint folder, `checkpoints/step-00001000/`:
    weights.safetensors   G., D. and G_ema. tensors (safetensors: plain tensors, no code)
    state.pt              optimisers, counters, RNG and family state; torch.load(weights_only=True)
    meta.json             step, images seen and the SHA-256 of both files above
The folder is assembled under a temporary name and renamed into place, and meta.json is written
last, so a folder with a valid meta.json whose hashes match is complete. Old checkpoints are
renamed out of the `step-*` namespace before they are deleted, so a process killed at any moment
leaves only complete checkpoints under their final names. Loading falls back to the previous
checkpoint (with a warning) when the newest one fails its hash check.

Test hook: the environment variable GANFORGE_TEST_SLOW_CKPT_WRITE=SECONDS makes every checkpoint
write pause that long between its files, so crash tests can kill a process mid-write reliably.
It has no effect when unset.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, GanforgeError
from ..run import checkpoints_dir
from .. import safe_files
from ..io import atomic_write_json, fsync_dir, load_error_reason, sha256_file
from ..limits import memory_budget

_NAME = re.compile(r"^step-(\d{8})$")
# A completed checkpoint moved aside while the same step is re-saved (see save_checkpoint).
_SET_ASIDE = re.compile(r"^\.old-step-(\d{8})-\d+$")
WEIGHTS, STATE, META = "weights.safetensors", "state.pt", "meta.json"
SLOW_WRITE_ENV = "GANFORGE_TEST_SLOW_CKPT_WRITE"


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Completed checkpoint folders, oldest first.

    A checkpoint set aside by a re-save that was killed before its replacement was renamed into
    place counts too, so no completed step is ever lost."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found: dict[int, Path] = {}
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and (p / META).is_file():
            found[int(m.group(1))] = p
    for p in root.iterdir():
        m = _SET_ASIDE.match(p.name)
        if m and int(m.group(1)) not in found and (p / META).is_file():
            found[int(m.group(1))] = p
    return [found[step] for step in sorted(found)]


def _step_of(path: Path) -> int | None:
    m = _NAME.match(path.name) or _SET_ASIDE.match(path.name)
    return int(m.group(1)) if m else None


def _test_pause() -> None:
    """GANFORGE_TEST_SLOW_CKPT_WRITE=SECONDS: a test hook that widens the write window."""
    seconds = os.environ.get(SLOW_WRITE_ENV)
    if seconds:
        time.sleep(float(seconds))


def flatten_modules(modules: dict[str, torch.nn.Module | None]) -> dict[str, torch.Tensor]:
    tensors = {}
    for prefix, module in modules.items():
        if module is None:
            continue
        for key, value in module.state_dict().items():
            tensors[f"{prefix}.{key}"] = value.detach().cpu().contiguous().clone()
    return tensors


def split_modules(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        out.setdefault(prefix, {})[rest] = value
    return out


def save_checkpoint(run_dir: Path, step: int, modules: dict[str, torch.nn.Module | None],
                    state: dict, meta: dict, keep: int = 3) -> Path:
    root = checkpoints_dir(run_dir)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    old = root / f".old-step-{step:08d}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_file(flatten_modules(modules), str(tmp / WEIGHTS))
        _fsync_file(tmp / WEIGHTS)
        _test_pause()
        with open(tmp / STATE, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        _test_pause()
        meta = {**meta, "step": step,
                "sha256": {WEIGHTS: sha256_file(tmp / WEIGHTS), STATE: sha256_file(tmp / STATE)}}
        atomic_write_json(tmp / META, meta)
        fsync_dir(tmp)
        _test_pause()
        if final.exists():
            # Re-saving a step (e.g. after falling back from a corrupt newest checkpoint): the old
            # folder is set aside first; if the process dies before the new one is in place,
            # checkpoint_dirs still finds the set-aside one.
            os.replace(final, old)
            _test_pause()
            os.replace(tmp, final)
            fsync_dir(root)
            _remove(old)
        else:
            os.replace(tmp, final)
        fsync_dir(root)
    except (OSError, GanforgeError, SafetensorError) as e:
        # Disk full, read-only or vanished folder: the temporary folder goes, the previous
        # checkpoints were never touched.
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            try:
                os.replace(old, final)
            except OSError:
                pass  # checkpoint_dirs finds it under its set-aside name
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise CheckpointError(f"cannot write checkpoint step {step} in {root}: {reason} "
                              f"(the previous checkpoint is intact)") from None
    try:
        _prune(root, keep)
    except OSError as e:  # a failed clean-up loses nothing; the next save tries again
        warnings.warn(f"could not remove old checkpoints in {root}: {e.strerror or e}")
    return final


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _remove(path: Path) -> None:
    """Delete a folder so that no half-deleted checkpoint is ever visible: rename it out of the
    checkpoint namespace first (atomic), then delete it."""
    doomed = path.parent / f".del-{path.name.lstrip('.')}-{os.getpid()}"
    try:
        os.replace(path, doomed)
    except OSError:
        return
    _delete(doomed)


def _delete(path: Path) -> None:
    """Remove a folder, or a symlink standing where one was expected: the link goes, never
    what it points to (rmtree refuses links, which left them behind forever)."""
    if path.is_symlink() or not path.is_dir():
        try:
            path.unlink()
        except OSError:
            pass
        return
    shutil.rmtree(path, ignore_errors=True)


def _prune(root: Path, keep: int) -> None:
    dirs = checkpoint_dirs(root.parent)
    for old in dirs[:-keep] if keep > 0 else []:
        _remove(old)
    # Leftovers of a process killed mid-write or mid-delete. One process writes a run's
    # checkpoints, and this one's own temporary folder has just been renamed into place.
    for stale in root.iterdir():
        if stale.name.startswith((".tmp-step-", ".del-")):
            _delete(stale)
        elif _SET_ASIDE.match(stale.name) and stale not in dirs:
            _delete(stale)


def verify(path: Path, run_dir: Path | None = None) -> dict:
    """Return the checkpoint's meta after checking both files against their recorded hashes.

    Every file is read as an untrusted one (see ganforge.safe_files): regular, inside the run
    directory (default: the folder above checkpoints/), and no larger than the memory budget."""
    root = Path(run_dir) if run_dir is not None else Path(path).parent.parent
    try:
        meta = safe_files.read_json(path / META, root)
        check_meta(meta, path / META)
        hashes = meta["sha256"]
        for name in (WEIGHTS, STATE):
            if safe_files.sha256(path / name, memory_budget(), root) != hashes[name]:
                raise CheckpointError(f"{path / name} does not match its recorded hash")
        if _step_of(path) is not None and meta["step"] != _step_of(path):
            raise CheckpointError(f"{path / META} says step {meta['step']}, the folder name another")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{path} is unreadable ({type(e).__name__}: {e})") from None
    return meta


def check_meta(meta: dict, where: Path) -> None:
    """meta.json's fields have the types and ranges this ganforge writes (a hand-edited or crafted
    one must not reach the model builder as a string shape or a billion-pixel image)."""
    def bad(field: str, expected: str):
        raise CheckpointError(f"{where}: '{field}' must be {expected}, got {_shown(meta.get(field))}")

    def count(value, hi: int) -> bool:
        return type(value) is int and 0 <= value <= hi

    if not count(meta.get("step"), 10**12):
        bad("step", "a non-negative integer")
    hashes = meta.get("sha256")
    if not isinstance(hashes, dict):
        bad("sha256", f"an object with the hashes of {WEIGHTS} and {STATE}")
    missing = [n for n in (WEIGHTS, STATE) if not isinstance(hashes.get(n), str)]
    if missing:
        raise CheckpointError(f"{where} records no hash for {', '.join(missing)}")
    if "data_shape" in meta:
        shape = meta["data_shape"]
        if not (isinstance(shape, list) and 1 <= len(shape) <= 3
                and all(count(d, 1 << 20) and d >= 1 for d in shape)):
            bad("data_shape", "a list of 1 to 3 positive integers")
    if "num_classes" in meta and not count(meta["num_classes"], 1_000_000):
        bad("num_classes", "an integer in [0, 1000000]")
    if "images_seen" in meta and not count(meta["images_seen"], 10**18):
        bad("images_seen", "a non-negative integer")


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_checkpoint(path: Path, with_state: bool = True, before_load=None) -> tuple[dict, dict, dict]:
    """(tensors by module prefix, state dict, meta) of one verified checkpoint folder.
    `before_load(path, meta)` runs after the hash check and before any tensor is read (e.g. to
    check shapes from the weights file's header)."""
    meta = verify(path)
    if before_load is not None:
        before_load(path, meta)
    return (*_load_files(path, with_state), meta)


def _load_files(path: Path, with_state: bool) -> tuple[dict, dict]:
    root = Path(path).parent.parent
    try:
        weights = safe_files.regular_file_inside(path / WEIGHTS, root, memory_budget())
        tensors = split_modules(load_file(str(weights)))
    except Exception as e:  # any decoding failure is a bad file
        raise CheckpointError(f"{path / WEIGHTS} cannot be loaded: {load_error_reason(e)}") from None
    if "G" not in tensors:
        raise CheckpointError(f"{path / WEIGHTS} holds no generator weights (no 'G.' tensors)")
    try:
        state = torch.load(safe_files.regular_file_inside(path / STATE, root, memory_budget()),
                           map_location="cpu", weights_only=True) if with_state else {}
    except Exception as e:  # weights_only: plain tensors and containers, never code to run
        raise CheckpointError(f"{path / STATE} cannot be loaded safely: {load_error_reason(e)}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path / STATE} holds a {type(state).__name__}, not a checkpoint state")
    return tensors, state


def load_latest(run_dir: Path, with_state: bool = True, before_load=None) -> tuple[dict, dict, dict, Path]:
    """The newest checkpoint that verifies; older ones are tried with a warning. Errors of
    `before_load` (see load_checkpoint) concern the run, not one checkpoint: they propagate."""
    dirs = checkpoint_dirs(run_dir)
    if not dirs:
        raise CheckpointError(f"no checkpoint in {checkpoints_dir(run_dir)}")
    for path in reversed(dirs):
        try:
            meta = verify(path)
        except CheckpointError as e:
            warnings.warn(f"skipping checkpoint: {e}; trying the previous one")
            continue
        if before_load is not None:
            before_load(path, meta)
        try:
            tensors, state = _load_files(path, with_state)
            return tensors, state, meta, path
        except CheckpointError as e:
            warnings.warn(f"skipping checkpoint: {e}; trying the previous one")
    raise CheckpointError(f"no readable checkpoint in {checkpoints_dir(run_dir)}")
