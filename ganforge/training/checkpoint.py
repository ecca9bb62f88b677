"""Full-state checkpoints that load without running code, written so a crash never corrupts one.

Layout of one checkpoint folder, `checkpoints/step-00001000/`:
    weights.safetensors   G., D. and G_ema. tensors (safetensors: plain tensors, no code)
    state.pt              optimisers, counters, RNG and family state; torch.load(weights_only=True)
    meta.json             step, images seen and the SHA-256 of both files above
The folder is assembled under a temporary name and renamed into place, and meta.json is written
last, so a folder with a valid meta.json whose hashes match is complete. Loading falls back to the
previous checkpoint (with a warning) when the newest one fails its hash check.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, GanforgeError
from ..io import atomic_write_json, fsync_dir, sha256_file

CKPT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d{8})$")
WEIGHTS, STATE, META = "weights.safetensors", "state.pt", "meta.json"


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Completed checkpoint folders, oldest first."""
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _NAME.match(p.name) and (p / META).is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


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
    root = Path(run_dir) / CKPT_DIR
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_file(flatten_modules(modules), str(tmp / WEIGHTS))
        with open(tmp / STATE, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        _fsync_file(tmp / WEIGHTS)
        meta = {**meta, "step": step,
                "sha256": {WEIGHTS: sha256_file(tmp / WEIGHTS), STATE: sha256_file(tmp / STATE)}}
        atomic_write_json(tmp / META, meta)
        fsync_dir(tmp)
        if final.exists():  # re-saving the same step (e.g. after a rollback): swap atomically
            old = root / f".old-step-{step:08d}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(root)
    except GanforgeError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"cannot write checkpoint in {root}: {e.strerror or e} "
                              f"(the previous checkpoint is intact)") from None
    _prune(root, keep)
    return final


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _prune(root: Path, keep: int) -> None:
    dirs = checkpoint_dirs(root.parent)
    for old in dirs[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-step-*"):  # left by a process killed mid-write
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)


def verify(path: Path) -> dict:
    """Return the checkpoint's meta after checking both files against their recorded hashes."""
    try:
        meta = json.loads((path / META).read_text())
        for name, digest in meta["sha256"].items():
            if sha256_file(path / name) != digest:
                raise CheckpointError(f"{path / name} does not match its recorded hash")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is unreadable: {e}") from None
    return meta


def load_checkpoint(path: Path, with_state: bool = True) -> tuple[dict, dict, dict]:
    """(tensors by module prefix, state dict, meta) of one verified checkpoint folder."""
    meta = verify(path)
    try:
        tensors = split_modules(load_file(str(path / WEIGHTS)))
        state = torch.load(path / STATE, map_location="cpu", weights_only=True) if with_state else {}
    except Exception as e:  # any decoding failure is a bad file, never code to run
        raise CheckpointError(f"{path} cannot be loaded safely: {e}") from None
    return tensors, state, meta


def load_latest(run_dir: Path, with_state: bool = True) -> tuple[dict, dict, dict, Path]:
    """The newest checkpoint that verifies; older ones are tried with a warning."""
    dirs = checkpoint_dirs(run_dir)
    if not dirs:
        raise CheckpointError(f"no checkpoint in {Path(run_dir) / CKPT_DIR}")
    for path in reversed(dirs):
        try:
            tensors, state, meta = load_checkpoint(path, with_state)
            return tensors, state, meta, path
        except CheckpointError as e:
            warnings.warn(f"skipping checkpoint: {e}; trying the previous one")
    raise CheckpointError(f"no readable checkpoint in {Path(run_dir) / CKPT_DIR}")
