"""The run directory's one owner: its layout, the saved config, the data summary, where
checkpoints, sample grids, growth snapshots and directions go, the best generator, and the run's
dataset rebuilt from its config. Every other module asks here instead of spelling a file name.

    RUN/config.json              the whole Config, written once when the run starts
    RUN/data.json                what the data turned out to be (samples, shape, classes, ...)
    RUN/metrics.jsonl            the training log, one JSON record per line
    RUN/eval.jsonl               `ganforge eval` results, appended
    RUN/checkpoints/step-N/      full-state checkpoints (ganforge.training.checkpoint)
    RUN/samples/step-N.png       sample grids, and latest.png
    RUN/best/                    the generator with the lowest FID seen by train.eval_every
    RUN/growth/stage-NN.*        PGGAN: the sampling generator at the end of each stage
    RUN/directions/NAME.npz      latent directions saved by `ganforge explore`
    RUN/plots/NAME.png           training curves drawn by `ganforge plot` and the explorer
    RUN/tensorboard/, RUN/wandb/ the optional loggers' files (train.logger)
    RUN/export/                  `ganforge export`'s graphs and their descriptions
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from . import safe_files
from .config import Config, from_dict, validate_component
from .data import load_dataset
from .data.memory import MemoryPlan, requested_in_memory
from .data.training_data import open_training_data
from .errors import CheckpointError, GanforgeError
from .families import FAMILIES
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .limits import memory_budget
from .models import DISCRIMINATORS, GENERATORS

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.jsonl"
CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
BEST_DIR = "best"
BEST_WEIGHTS = "generator.safetensors"
BEST_META = "best.json"
GROWTH_DIR = "growth"
DIRECTIONS_DIR = "directions"
PLOTS_DIR = "plots"
TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"
EXPORT_DIR = "export"


# ---------------------------------------------------------------- layout

def new_run_dir(root, recipe: str) -> Path:
    """ROOT/<recipe>-001, -002, ... (the next free number), created."""
    root = Path(root)
    make_dir(root)
    pattern = re.compile(rf"^{re.escape(recipe)}-(\d+)$")
    taken = [int(m.group(1)) for p in root.iterdir() if (m := pattern.match(p.name))]
    path = root / f"{recipe}-{max(taken, default=0) + 1:03d}"
    make_dir(path)
    return path


def make_dir(path) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanforgeError(f"cannot create run directory {path}: {e.strerror or e}") from None


def config_path(run_dir) -> Path:
    return Path(run_dir) / CONFIG_FILE


def is_run(path) -> bool:
    """True when `path` already holds a run (its config was written)."""
    return config_path(path).exists()


def metrics_path(run_dir) -> Path:
    return Path(run_dir) / METRICS_FILE


def eval_log_path(run_dir) -> Path:
    return Path(run_dir) / EVAL_FILE


def checkpoints_dir(run_dir) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR


def sample_grid_path(run_dir, step: int | None = None) -> Path:
    """The grid written at `step`, or (None) the newest one, `latest.png`."""
    name = "latest.png" if step is None else f"step-{step:08d}.png"
    return Path(run_dir) / SAMPLES_DIR / name


def growth_dir(run_dir) -> Path:
    return Path(run_dir) / GROWTH_DIR


def growth_snapshot_path(run_dir, stage: int) -> Path:
    return growth_dir(run_dir) / f"stage-{stage:02d}.safetensors"


def growth_snapshots(run_dir) -> list[Path]:
    """PGGAN's end-of-stage snapshots, oldest stage first."""
    return sorted(growth_dir(run_dir).glob("stage-*.safetensors"))


def directions_dir(run_dir) -> Path:
    return Path(run_dir) / DIRECTIONS_DIR


def plots_dir(run_dir) -> Path:
    return Path(run_dir) / PLOTS_DIR


def logger_dir(run_dir, logger: str) -> Path:
    """Where an optional logger (train.logger: tensorboard, wandb) writes its files."""
    return Path(run_dir) / {"tensorboard": TENSORBOARD_DIR, "wandb": WANDB_DIR}[logger]


def export_dir(run_dir) -> Path:
    return Path(run_dir) / EXPORT_DIR


# ---------------------------------------------------------------- config and data summary

def write_config(run_dir, cfg: Config) -> None:
    atomic_write_text(config_path(run_dir), cfg.to_json())


def read_config(run_dir) -> Config:
    """The Config a run was trained with; one-line errors naming config.json when the folder is
    not a run or the file is unreadable, malformed or out of range (read as untrusted: see
    ganforge.safe_files)."""
    run_dir = safe_files.run_directory(run_dir)
    path = config_path(run_dir)
    if not os.path.lexists(path):
        raise CheckpointError(f"{run_dir} is not a ganforge run directory (no {CONFIG_FILE})")
    table = safe_files.read_json(path, run_dir)
    try:
        cfg = from_dict(table)
        # The component sections too, so that their errors also name this file.
        for section, registry in (("family", FAMILIES), ("generator", GENERATORS),
                                  ("discriminator", DISCRIMINATORS)):
            validate_component(section, getattr(cfg, section), registry)
        return cfg
    except GanforgeError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path} is unreadable: {type(e).__name__}: {e}") from None


def write_data_summary(run_dir, summary: dict) -> None:
    atomic_write_json(Path(run_dir) / DATA_FILE, summary)


def data_summary_text(summary: dict) -> str:
    """Two lines for the console: what the data is and where it lives (memory or streamed, and
    why), then what runs it (the provenance record) and in which precision and layout."""
    shape = "x".join(map(str, summary["shape"]))
    classes = f", {summary['num_classes']} classes" if summary.get("num_classes") else ""
    skipped = f", {summary['skipped']} skipped" if summary.get("skipped") else ""
    where = "in memory" if summary.get("in_memory", not summary.get("streamed")) else "streamed"
    why = f" ({summary['memory_decision']})" if summary.get("memory_decision") else ""
    lines = [f"data: {summary['source']}: {summary['samples']} samples of {shape}{classes}{skipped}; "
             f"{where}{why}"]
    p = summary.get("provenance")
    if p:
        cuda = f"CUDA {p['cuda']}, cuDNN {p['cudnn']}" if p.get("cuda") else "no CUDA"
        commit = f", commit {p['git_commit']}" if p.get("git_commit") else ""
        c = summary.get("computes")
        computes = (f"; computes in {c['precision']}{', channels-last' if c['channels_last'] else ''}"
                    if c else "")
        lines.append(f"run by: ganforge {p['ganforge']}{commit}, torch {p['torch']} ({cuda}), "
                     f"{p['device']}, {p['processes']} process(es){computes}")
    return "\n".join(lines)


def read_data_summary(run_dir) -> dict | None:
    """RUN/data.json, or None when it is missing or unreadable."""
    path = Path(run_dir) / DATA_FILE
    if not path.exists():
        return None
    try:
        return safe_files.read_json(path, root=run_dir)
    except GanforgeError:  # not a regular file, too large, not JSON, not an object
        return None


def config_differences(old: Config, new: Config) -> dict[str, tuple]:
    """{dotted key: (old value, new value)} for every setting that differs between two configs;
    a key present in one component section only counts as (None, value)."""
    def flat(cfg: Config) -> dict:
        return {f"{section}.{key}": value for section, values in cfg.to_dict().items()
                if isinstance(values, dict) for key, value in values.items()}
    a, b = flat(old), flat(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


# ---------------------------------------------------------------- the run's dataset

def training_data(cfg: Config) -> tuple[object, MemoryPlan]:
    """(the data as the trainer reads it, the memory decision): a stream when data.in_memory is
    false, or "auto" and the decoded size is over data.memory_limit, and the source can stream
    (a folder of images or a container); else the whole dataset in memory."""
    d = cfg.data
    return open_training_data(d.source, image_size=d.image_size, channels=d.channels, skip_bad=d.skip_bad,
                              seed=cfg.train.seed, toy_samples=d.toy_samples,
                              in_memory=requested_in_memory(d.in_memory), memory_limit=d.memory_limit)


def dataset(cfg: Config):
    """The run's dataset in memory, rebuilt from its config exactly as training loaded it."""
    d = cfg.data
    return load_dataset(d.source, image_size=d.image_size, channels=d.channels, skip_bad=d.skip_bad,
                        seed=cfg.train.seed, toy_samples=d.toy_samples)


# ---------------------------------------------------------------- the best generator

def best_record(run_dir) -> dict | None:
    """RUN/best/best.json (FID, step, extractor, n, ...), or None when there is none readable."""
    path = Path(run_dir) / BEST_DIR / BEST_META
    if not os.path.lexists(path):
        return None
    try:
        return safe_files.read_json(path, run_dir)
    except (OSError, GanforgeError):
        return None  # unreadable: the next measurement replaces it


def write_best_generator(run_dir, state: dict[str, torch.Tensor], record: dict) -> None:
    """Keep `state` (a generator's weights) as the run's best; the weights go first and the JSON
    naming them last, so a crash in between leaves the previous best described correctly."""
    folder = Path(run_dir) / BEST_DIR
    data = save(state)
    atomic_write_bytes(folder / BEST_WEIGHTS, data)
    atomic_write_json(folder / BEST_META, {**record, "sha256": hashlib.sha256(data).hexdigest(),
                                           "weights": BEST_WEIGHTS})


def load_best_generator(run_dir) -> tuple[dict, Path, int]:
    """What write_best_generator wrote: the weights (hash-checked), their file and the step
    they were taken at."""
    meta_path = Path(run_dir) / BEST_DIR / BEST_META
    try:
        meta = safe_files.read_json(meta_path, run_dir)
        path = meta_path.parent / Path(meta["weights"]).name
        data = safe_files.read_bytes(path, memory_budget(), run_dir)
        if "sha256" in meta and hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise CheckpointError(f"{path} does not match the hash in {meta_path}")
        return load(data), path, int(meta["step"])
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir} has no best generator: train with train.eval_every > 0 "
                              "and an FID metric to keep one") from None
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
        raise CheckpointError(f"{meta_path.parent} cannot be loaded: {e}") from None


# ---------------------------------------------------------------- growth snapshots (PGGAN)

def write_growth_snapshot(run_dir, stage: int, state: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    path = growth_snapshot_path(run_dir, stage)
    atomic_write_bytes(path, save(state, metadata=meta))
    return path
