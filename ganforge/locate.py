"""Find a generator's weights and the config that built it from whatever path a user holds: a run
directory, one checkpoint folder, or a weights file (with its config beside it or in its run).

Nothing here unpickles code: weights are safetensors, metadata is JSON.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from . import run, safe_files
from .config import Config
from .errors import CheckpointError, GanforgeError
from .io import sha256_file
from .limits import memory_budget
from .training import checkpoint as ckpt
# How far above a weights file its run's config may be: RUN/checkpoints/step-N/weights.safetensors.
_LEVELS_UP = 3


@dataclass
class GeneratorWeights:
    config: Config
    run_dir: Path                  # the folder holding the config
    weights: dict[str, torch.Tensor]
    data_shape: tuple[int, ...]
    num_classes: int
    step: int
    path: Path                     # what the weights were read from


def locate_generator(path: str | Path, ema: bool = True, best: bool = False,
                     before_load=None) -> GeneratorWeights:
    """The generator at `path`: a run directory (its newest readable checkpoint, or with best=True
    the generator kept in RUN/best/), a checkpoint folder, or a .safetensors file. For a run
    directory, `before_load(cfg, run_dir, checkpoint_dir, meta)` runs before any tensor is read."""
    path = Path(path)
    try:
        is_file = path.is_file()
    except OSError:  # e.g. a name too long for the filesystem: run_directory says so in one line
        is_file = False
    if not is_file:  # one line for a folder that is missing, unreadable or too long a name
        path = safe_files.run_directory(path)
    if path.is_dir() and run.is_run(path):
        return _from_run(path, ema, best, before_load)
    if best:
        raise GanforgeError(f"--best reads a run directory's best generator; {path} is not a run directory")
    if path.is_dir() and (path / ckpt.META).is_file():
        tensors, _, meta = ckpt.load_checkpoint(path, with_state=False)
        return _assemble(path, _pick(tensors, ema, path), meta, path)
    if path.is_file():
        return _from_file(path, ema)
    raise CheckpointError(f"{path} is neither a run directory (no {run.CONFIG_FILE}) nor a checkpoint "
                          f"folder (no {ckpt.META})")


def _from_run(run_dir: Path, ema: bool, best: bool, before_load) -> GeneratorWeights:
    cfg = run.read_config(run_dir)
    check = None if before_load is None else (lambda folder, meta: before_load(cfg, run_dir, folder, meta))
    tensors, _, meta, path = ckpt.load_latest(run_dir, with_state=False, before_load=check)
    if best:
        weights, path, step = run.load_best_generator(run_dir)
        return _assemble(run_dir, weights, {**meta, "step": step}, path)
    return _assemble(run_dir, _pick(tensors, ema, path), meta, path)


def _from_file(path: Path, ema: bool) -> GeneratorWeights:
    # A regular file of bounded size (a link to /dev/zero would hash forever), resolved first so
    # that a user's own link to a real weights file still works.
    path = safe_files.regular_file_inside(path.resolve(), path.resolve().parent, memory_budget())
    meta = _json(path.parent / ckpt.META) or {}
    recorded = (meta.get("sha256") or {}).get(path.name) if isinstance(meta.get("sha256"), dict) else None
    if recorded and sha256_file(path) != recorded:
        raise CheckpointError(f"{path} does not match the hash in {path.parent / ckpt.META}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from None
    if any(k.startswith(("G.", "G_ema.")) for k in tensors):  # a checkpoint's weights file
        weights = _pick(ckpt.split_modules(tensors), ema, path)
    else:  # a generator's own state dict (e.g. RUN/best/generator.safetensors)
        weights = tensors
    best = _json(path.parent / run.BEST_META)
    if best and "step" in best and "step" not in meta:
        meta = {**meta, "step": best["step"]}
    return _assemble(path.parent, weights, meta, path)


def _assemble(start: Path, weights: dict, meta: dict, path: Path) -> GeneratorWeights:
    run_dir = _config_folder(start, path)
    cfg = run.read_config(run_dir)
    data = _json(run_dir / run.DATA_FILE) or {}
    shape = meta.get("data_shape") or data.get("shape")
    if shape is None:
        raise CheckpointError(f"no data shape for {path}: neither a checkpoint meta.json beside it "
                              f"nor {run_dir / run.DATA_FILE}")
    num_classes = meta.get("num_classes", data.get("num_classes", 0))
    return GeneratorWeights(cfg, run_dir, weights, tuple(int(s) for s in shape), int(num_classes or 0),
                            int(meta.get("step", 0)), path)


def _config_folder(start: Path, path: Path) -> Path:
    """The nearest folder at or above `start` holding config.json (its run, for a checkpoint)."""
    folder = start.resolve()
    for _ in range(_LEVELS_UP + 1):
        if run.is_run(folder):
            return folder
        folder = folder.parent
    raise CheckpointError(f"no {run.CONFIG_FILE} beside {path} or in its run directory: the weights "
                          "cannot be used without the config that built them")


def _pick(tensors: dict, ema: bool, path: Path) -> dict:
    if ema and "G_ema" in tensors:
        return tensors["G_ema"]
    if "G" not in tensors:
        raise CheckpointError(f"{path} holds no generator weights (no 'G.' tensors)")
    return tensors["G"]


def _json(path: Path) -> dict | None:
    """A JSON object read as an untrusted file (regular, bounded), or None when it is missing or
    not one."""
    if not path.exists():
        return None
    try:
        return safe_files.read_json(path)
    except GanforgeError:
        return None


def fingerprint(weights: dict[str, torch.Tensor]) -> str:
    """A short hash of a state dict (names, shapes, values), for naming an export's source."""
    h = hashlib.sha256()
    for key in sorted(weights):
        h.update(key.encode())
        h.update(weights[key].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
