"""The public Python surface: train, load and sample. The CLI is a thin layer over these."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from . import run, safe_files
from .config import Config, apply_overrides, resolve
from .errors import CheckpointError, ConfigError, GanforgeError
from .limits import check, check_allocation, check_truncation, memory_budget
from .locate import locate_generator
from .nn.latent import Latent, render_batches, truncated_normal
from .training import checkpoint as ckpt
from .training.build import build_components, check_fits_weights, check_memory, planned_components
from .training.logbook import check_log
from .training.resumable import check_resumable
from .training.runtime import launched_world_size, resolve_runtime
from .training.trainer import Trainer


def train(config: Config | str = "dcgan", out: str | Path | None = None,
          runs_root: str | Path = "runs") -> Path:
    """Train a run from a Config (or a recipe name) and return its run directory.

    Under torchrun every process calls this; rank 0 creates the run directory (auto-numbered or
    `out`) and tells the others, so all ranks use the same path."""
    cfg = resolve(config) if isinstance(config, str) else config
    if launched_world_size() > 1:
        t = cfg.train
        rt = resolve_runtime(t.device, t.precision, t.threads)  # joins the process group
        chosen = _create_run_dir(cfg, out, runs_root) if rt.is_main else None
        run_dir, error = rt.broadcast_object(chosen)
        if error is not None:
            raise GanforgeError(error)
        run_dir = Path(run_dir)
    else:
        run_dir, error = _create_run_dir(cfg, out, runs_root)
        if error is not None:
            raise GanforgeError(error)
    return Trainer(cfg, run_dir).train()


def _create_run_dir(cfg: Config, out, runs_root) -> tuple[str | None, str | None]:
    """(path, None) after creating the run directory, or (None, message) when it cannot be."""
    try:
        if out is not None:
            run_dir = Path(out)
            if run.is_run(run_dir):
                return None, (f"{run_dir} already holds a run; resume it with --resume {run_dir} "
                              "or choose another --out")
            run.make_dir(run_dir)
        else:
            run_dir = run.new_run_dir(Path(runs_root), cfg.recipe or "run")
    except GanforgeError as e:
        return None, str(e)
    return str(run_dir), None


def resume(run_dir: str | Path, sets: dict | None = None, recipe: str | None = None,
           repair_log: bool = False) -> Path:
    """Continue a run from its newest readable checkpoint, exactly where it stopped. A metrics
    log with unreadable lines stops here, before any work, unless `repair_log` moves them aside
    (RUN/metrics.jsonl.bad) and keeps every readable record."""
    cfg = run.read_config(run_dir)
    check_log(run.metrics_path(run_dir), repair=repair_log)
    if recipe is not None and recipe != cfg.recipe:
        raise ConfigError(f"{run_dir} was trained with recipe '{cfg.recipe}', not '{recipe}'")
    if not ckpt.checkpoint_dirs(Path(run_dir)):
        raise CheckpointError(f"{run_dir} has no checkpoint to resume from")
    if sets:
        saved, cfg = cfg, apply_overrides(cfg, sets)
        check_resumable(Path(run_dir), saved, cfg)
    return Trainer(cfg, Path(run_dir), resume=True).train()


class LoadedGenerator:
    """A trained generator ready to sample: EMA weights when the run kept them, eval mode."""

    def __init__(self, cfg: Config, G: torch.nn.Module, family, data_shape, num_classes: int,
                 step: int, device: torch.device, run_dir: Path):
        self.cfg, self.G, self.family = cfg, G, family
        self.data_shape, self.num_classes, self.step = data_shape, num_classes, step
        self.device, self.run_dir = device, run_dir

    @property
    def conditional(self) -> bool:
        return getattr(self.G, "conditioning", "none") != "none"

    def latent(self, n: int, seed: int = 0, labels=None, truncation: float | None = None) -> Latent:
        seed, n = check("seed", seed), check("samples", n, "the number of samples")
        gen = torch.Generator(self.device).manual_seed(seed)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long, device=self.device)
            if labels.dim() == 0:
                labels = labels.expand(n)
            if len(labels) != n:
                raise GanforgeError(f"{len(labels)} labels given for {n} samples")
            if self.num_classes < 2 or labels.min() < 0 or labels.max() >= self.num_classes:
                raise GanforgeError(f"labels must be in 0..{max(self.num_classes - 1, 0)}")
        latent = self.family.sample_latent(n, self.G.noise_dim, self.device, gen, labels=labels)
        truncation = check_truncation(truncation)
        if truncation is not None:
            latent.z = truncated_normal(latent.z.shape, truncation, generator=gen, device=self.device)
        return latent

    @torch.inference_mode()
    def generate(self, latent: Latent, batch_size: int = 256) -> torch.Tensor:
        check_allocation(len(latent) * math.prod(self.data_shape) * 4,
                         f"{len(latent)} samples of shape {list(self.data_shape)}", "ask for fewer")
        return torch.cat([x.float().cpu() for x in render_batches(
            lambda chunk: self.family.generate(self.G, chunk), latent, batch_size)])

    def sample(self, n: int, seed: int = 0, labels=None, truncation: float | None = None,
               batch_size: int = 256) -> torch.Tensor:
        """n samples in [-1, 1] ([N, C, H, W] images or [N, d] points), reproducible by seed."""
        return self.generate(self.latent(n, seed, labels, truncation), batch_size)


def _fits_before_building(ema: bool):
    """A check run before any tensor of a run's checkpoint is read or a model built: meta.json's
    shape and the config's sizes against the weights file's header and the memory budget."""
    def fits(cfg: Config, run_dir: Path, path: Path, meta: dict) -> None:
        shape = meta.get("data_shape")
        if shape is None:
            raise CheckpointError(f"{path} lacks the data shape; it was not written by this ganforge")
        planned = planned_components(cfg, tuple(shape), int(meta.get("num_classes", 0)))
        check_memory(planned, cfg, tuple(shape), training=False)
        shapes = safe_files.safetensors_shapes(path / ckpt.WEIGHTS, memory_budget(), run_dir)
        prefix = "G_ema" if ema and any(k.startswith("G_ema.") for k in shapes) else "G"
        check_fits_weights(planned and planned.G, shapes, prefix, path / ckpt.WEIGHTS)
    return fits


def load(path: str | Path, device: str = "cpu", ema: bool = True, best: bool = False) -> LoadedGenerator:
    """Load a generator for sampling (no code is unpickled) from a run directory (its newest
    readable checkpoint), one checkpoint folder, or a weights file with its config beside it or in
    its run. best=True loads instead the generator kept in RUN/best/ by train.eval_every (lowest
    FID so far)."""
    found = locate_generator(path, ema=ema, best=best, before_load=_fits_before_building(ema))
    cfg = found.config
    parts = build_components(cfg, found.data_shape, found.num_classes, cfg.train.seed)
    G = parts.G
    try:
        G.load_state_dict(found.weights)
    except RuntimeError as e:
        raise CheckpointError(f"{found.path} does not fit its config: {str(e).splitlines()[0]}") from None
    dev = torch.device(device)
    G.to(dev).eval()
    return LoadedGenerator(cfg, G, parts.family, found.data_shape, found.num_classes,
                           found.step, dev, found.run_dir)
