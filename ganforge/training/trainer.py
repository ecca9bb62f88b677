"""The training loop. It knows nothing family-specific: the family computes each step's losses,
the trainer owns data, optimisers, precision, EMA, sample grids, checkpoints and the log."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..config import Config, from_dict
from ..data import load_dataset
from ..data.batches import InMemoryBatches
from ..errors import CheckpointError, ConfigError, GanforgeError
from ..images import grid_image, save_png
from ..io import atomic_write_json, atomic_write_text
from ..nn.ema import ExponentialMovingAverage, ema_decay_from_half_life
from . import checkpoint as ckpt
from .build import build_components
from .logbook import MetricsLog, StatsAccumulator
from .runtime import resolve_runtime

CONFIG_FILE = "config.json"


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        self.rt = resolve_runtime(t.device, t.precision, t.threads)
        self.dataset = load_dataset(cfg.data.source, image_size=cfg.data.image_size,
                                    channels=cfg.data.channels, skip_bad=cfg.data.skip_bad,
                                    seed=t.seed, toy_samples=cfg.data.toy_samples)
        data, labels, self.data_shape = _tensors(self.dataset)
        self.num_classes = self.dataset.num_classes
        parts = build_components(cfg, self.data_shape, self.num_classes, t.seed)
        self.family, self.G, self.D = parts.family, parts.G.to(self.rt.device), parts.D.to(self.rt.device)
        self.opt_g = _optimizer(cfg, self.family.g_parameters(self.G, self.D), cfg.optim.g_lr)
        self.opt_d = _optimizer(cfg, self.family.d_parameters(self.G, self.D), cfg.optim.d_lr)
        self.ema = ExponentialMovingAverage(self.G) if t.ema else None
        self.batches = InMemoryBatches(data, labels, t.batch_size, t.seed, self.rt.device,
                                       self.rt.rank, self.rt.world_size)
        # One noise stream per rank, seeded, saved in checkpoints: resume continues it exactly.
        self.noise = torch.Generator(self.rt.device).manual_seed(t.seed * 7919 + 1 + self.rt.rank)
        self.fixed = self.family.sample_latent(
            min(t.grid_size, 256), self.G.noise_dim, self.rt.device,
            torch.Generator(self.rt.device).manual_seed(t.seed + 12345),
            labels=self._grid_labels(min(t.grid_size, 256)))
        self.step, self.images_seen = 0, 0
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", self.rt.is_main)
        if resume:
            self._restore()
        elif self.rt.is_main:
            atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
            atomic_write_json(self.run_dir / "data.json", {
                "source": cfg.data.source, "samples": int(data.shape[0]),
                "shape": list(self.data_shape), "num_classes": self.num_classes,
                "skipped": int(getattr(self.dataset, "skipped", 0))})

    # ------------------------------------------------------------------ the loop
    def train(self) -> Path:
        t, fam = self.cfg.train, self.family
        stats = StatsAccumulator()
        bar = tqdm(total=t.steps, initial=self.step, disable=not (t.progress and self.rt.is_main),
                   dynamic_ncols=True, unit="step")
        interval_start, interval_images = time.perf_counter(), 0
        while self.step < t.steps:
            images_before = self.images_seen
            self._train_step(stats)
            self.step += 1
            interval_images += self.images_seen - images_before
            if self.step % t.log_every == 0 or self.step == t.steps:
                elapsed = time.perf_counter() - interval_start
                record = self._log(stats, interval_images / max(elapsed, 1e-9))
                bar.set_postfix_str(f"img/s {record['img_per_s']:.0f}  D {record.get('d_loss', 0):.3f}"
                                    f"  G {record.get('g_loss', 0):.3f}")
                interval_start, interval_images = time.perf_counter(), 0
            if self.rt.is_main and (self.step % t.sample_every == 0 or self.step == t.steps):
                self.write_grid()
            if self.step % t.ckpt_every == 0 or self.step == t.steps:
                self.save()
            bar.update(1)
        bar.close()
        return self.run_dir

    def _train_step(self, stats: StatsAccumulator) -> None:
        fam, rt, B = self.family, self.rt, self.cfg.train.batch_size
        fakes = latent = None
        for _ in range(fam.d_steps_at(self.step)):
            reals, labels = self.batches.next()
            latent = fam.sample_latent(B, self.G.noise_dim, rt.device, self.noise)
            with rt.autocast():
                if fam.reuses_fakes:
                    fakes = fam.generate(self.G, latent)  # kept for the G step below
                    d_fakes = fakes.detach()
                else:
                    with torch.no_grad():
                        d_fakes = fam.generate(self.G, latent)
                d_loss, d_stats = fam.d_loss(self.D, reals, labels, d_fakes, latent, self.noise)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            fam.after_d_step(self.D)
            stats.add(d_stats)
            self.images_seen += B * rt.world_size
        if not fam.reuses_fakes:
            latent = fam.sample_latent(B, self.G.noise_dim, rt.device, self.noise)
            fakes = None
        with rt.autocast():
            if fakes is None:
                fakes = fam.generate(self.G, latent)
            g_loss, g_stats = fam.g_loss(self.D, fakes, latent)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        stats.add(g_stats)
        if self.ema is not None:
            t = self.cfg.train
            decay = 0.0 if self.step < t.ema_start_step else ema_decay_from_half_life(
                B * rt.world_size, t.ema_half_life_kimg * 1000)
            self.ema.update(self.G, decay)

    # ------------------------------------------------------------------ outputs
    def _log(self, stats: StatsAccumulator, img_per_s: float) -> dict:
        means = stats.means()
        record = {"step": self.step, "images_seen": self.images_seen,
                  "img_per_s": round(img_per_s, 2), **{k: round(v, 6) for k, v in means.items()}}
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        self.log.write(record)
        if bad:
            raise GanforgeError(f"training diverged at step {self.step}: {', '.join(bad)} became "
                                f"NaN/Inf; the last good checkpoint is in {self.run_dir / ckpt.CKPT_DIR}")
        return record

    @property
    def sampling_generator(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.G

    @torch.no_grad()
    def write_grid(self) -> Path:
        G = self.sampling_generator
        was_training = G.training
        G.eval()
        samples = self.family.generate(G, self.fixed).float()
        G.train(was_training)
        nrow = self.num_classes if self._conditional_grid() else None
        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        save_png(grid_image(samples, nrow=nrow, scale=2 if self.data_shape[-1] <= 32 else 1), path)
        save_png(grid_image(samples, nrow=nrow, scale=2 if self.data_shape[-1] <= 32 else 1),
                 self.run_dir / "samples" / "latest.png")
        return path

    def _conditional_grid(self) -> bool:
        return getattr(self.G, "conditioning", "none") != "none" and self.num_classes > 1

    def _grid_labels(self, n: int) -> torch.Tensor | None:
        """Conditional models: rows of the grid are classes."""
        if not self._conditional_grid():
            return None
        return torch.arange(n, device=self.rt.device) // max(1, n // self.num_classes) % self.num_classes

    # ------------------------------------------------------------------ checkpoints
    def modules(self) -> dict:
        return {"G": self.G, "D": self.D, "G_ema": self.ema.module if self.ema else None}

    def save(self) -> Path | None:
        if not self.rt.is_main:
            return None
        state = {
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "family": self.family.state_dict(), "batches": self.batches.state_dict(),
            "noise_rng": self.noise.get_state(), "torch_rng": torch.get_rng_state(),
            "step": self.step, "images_seen": self.images_seen,
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        meta = {"recipe": self.cfg.recipe, "images_seen": self.images_seen,
                "data_shape": list(self.data_shape), "num_classes": self.num_classes,
                "family": self.cfg.family["name"], "generator": self.cfg.generator["name"]}
        return ckpt.save_checkpoint(self.run_dir, self.step, self.modules(), state, meta,
                                    keep=self.cfg.train.keep_ckpts)

    def _restore(self) -> None:
        tensors, state, meta, path = ckpt.load_latest(self.run_dir)
        try:
            self.G.load_state_dict(tensors["G"])
            self.D.load_state_dict(tensors["D"])
            if self.ema is not None:
                self.ema.module.load_state_dict(tensors.get("G_ema", tensors["G"]))
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{path} does not fit this run's models: {str(e).splitlines()[0]}") from None
        self.family.load_state_dict(state["family"])
        self.batches.load_state_dict(state["batches"])
        self.noise.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self.log.truncate_after(self.step) if self.rt.is_main else None


def _tensors(dataset) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, ...]]:
    if hasattr(dataset, "points"):
        return dataset.points, dataset.labels, (dataset.points.shape[1],)
    return dataset.images, dataset.labels, tuple(dataset.images.shape[1:])


def _optimizer(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(o.betas), eps=o.eps, foreach=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=o.eps, foreach=True)
    raise ConfigError(f"optim.name must be adam or rmsprop, got '{o.name}'")


def read_run_config(run_dir: Path) -> Config:
    import json
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise GanforgeError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a ganforge run directory (no {CONFIG_FILE})")
    try:
        return from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is unreadable: {e}") from None
